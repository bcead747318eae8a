// The share box (templates/drives/_share_box.html): the phone's share sheet and Copy link where
// the browser has them; the plain links work without this script. Loaded deferred; no inline
// script (the pages' Content-Security-Policy allows scripts from this site only).
(function () {
  "use strict";

  function links(box, text, url, title) {
    var message = text + " " + url;
    var hrefs = {
      sms: "sms:?&body=" + encodeURIComponent(message),
      whatsapp: "https://wa.me/?text=" + encodeURIComponent(message),
      email: "mailto:?subject=" + encodeURIComponent(title) +
        "&body=" + encodeURIComponent(text + "\n\n" + url),
    };
    box.querySelectorAll("[data-share-link]").forEach(function (link) {
      link.href = hrefs[link.getAttribute("data-share-link")];
    });
    var shown = box.querySelector("[data-share-message]");
    if (shown) shown.textContent = text;
  }

  document.querySelectorAll("[data-share]").forEach(function (box) {
    if (box.hasAttribute("data-share-ready")) return;  // two boxes load the script twice
    box.setAttribute("data-share-ready", "");
    var url = box.getAttribute("data-share-url");
    var title = box.getAttribute("data-share-title");
    var status = box.querySelector("[data-share-status]");
    var include = box.querySelector("[data-share-include-amount]");
    function text() {
      if (include && include.checked) return box.getAttribute("data-share-text-with-amount");
      return box.getAttribute("data-share-text");
    }
    if (include) {
      var apply = box.querySelector("[data-share-apply]");
      if (apply) apply.hidden = true;  // the message follows the box as it is ticked
      include.addEventListener("change", function () { links(box, text(), url, title); });
      links(box, text(), url, title);
    }

    var native = box.querySelector("[data-share-native]");
    if (native && navigator.share) {
      native.hidden = false;
      native.addEventListener("click", function () {
        navigator.share({ title: title, text: text(), url: url }).catch(function () {
          // Cancelled, or the sheet could not open: the links below remain.
        });
      });
    }
    var copy = box.querySelector("[data-share-copy]");
    if (copy && navigator.clipboard && window.isSecureContext) {
      copy.hidden = false;
      copy.addEventListener("click", function () {
        status.textContent = "";
        navigator.clipboard.writeText(url).then(function () {
          status.textContent = copy.getAttribute("data-share-copied");
        }, function () {
          status.textContent = copy.getAttribute("data-share-failed");
        });
      });
    }
  });
})();
