// The donate form works without this script; it only keeps the amount choice and the
// "other amount" field in step while the donor types, makes the fee note name the chosen
// amount, and sends the form once however often "Continue" is tapped. Every figure it shows
// was written into the page by the server (data-covered…): no money is computed here.
(function () {
  const form = document.querySelector("#donate form");
  if (!form) return;

  // A second tap while the first is on its way would start a second checkout (and a second
  // pending gift). The page restored by the back button sends again.
  form.addEventListener("submit", function (event) {
    if (form.dataset.sent) event.preventDefault();
    form.dataset.sent = "1";
  });
  window.addEventListener("pageshow", function () {
    delete form.dataset.sent;
  });
  const other = form.querySelector('input[name="amount_choice"][value="other"]');
  const custom = form.querySelector("#custom_amount");
  const note = form.querySelector("#fee-note");
  if (!other || !custom) return;

  function feeNote() {
    if (!note) return;
    const chosen = form.querySelector('input[name="amount_choice"]:checked');
    const monthly = form.querySelector('input[name="frequency"][value="monthly"]');
    if (!chosen || chosen === other || custom.value.trim()) {
      note.textContent = note.dataset.other;
      return;
    }
    const charge = monthly && monthly.checked ? chosen.dataset.coveredMonthly : chosen.dataset.covered;
    note.textContent = note.dataset.template
      .replace("{amount}", chosen.dataset.amount)
      .replace("{charge}", charge);
  }

  custom.addEventListener("input", function () {
    if (custom.value.trim()) other.checked = true;
    feeNote();
  });
  form.querySelectorAll('input[name="amount_choice"]').forEach(function (radio) {
    radio.addEventListener("change", function () {
      if (radio !== other) custom.value = "";
      else custom.focus();
      feeNote();
    });
  });
  form.querySelectorAll('input[name="frequency"]').forEach(function (radio) {
    radio.addEventListener("change", feeNote);
  });
  feeNote();
})();
