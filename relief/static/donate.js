// The donate form works without this script; it only keeps the amount choice and the
// "other amount" field in step while the donor types.
(function () {
  const form = document.querySelector("#donate form");
  if (!form) return;
  const other = form.querySelector('input[name="amount_choice"][value="other"]');
  const custom = form.querySelector("#custom_amount");
  if (!other || !custom) return;
  custom.addEventListener("input", function () {
    if (custom.value.trim()) other.checked = true;
  });
  form.querySelectorAll('input[name="amount_choice"]').forEach(function (radio) {
    radio.addEventListener("change", function () {
      if (radio !== other) custom.value = "";
      else custom.focus();
    });
  });
})();
