// The review card's keyboard: Enter submits the value form (the browser does that; an empty input is the
// server's "accept the suggestion"), Tab skips to the next open item, arrow keys move between items. Moves
// click the card's own prev/next links, so htmx swaps the card in and pushes its URL exactly as a click would.
// No inline handlers anywhere: the page's CSP allows scripts from this origin only.
(function () {
  "use strict";

  function cardLink(rel) {
    return document.querySelector('#card a[data-nav="' + rel + '"]');
  }

  function move(rel) {
    var link = cardLink(rel);
    if (!link) {
      return false;
    }
    link.click();
    return true;
  }

  function focusValue() {
    var input = document.querySelector("#card input[name=value]");
    if (input) {
      input.focus();
      input.select();
      return;
    }
    var button = document.querySelector("#card button[autofocus]");
    if (button) {
      button.focus();
    }
  }

  document.addEventListener("keydown", function (event) {
    if (!document.getElementById("card") || event.altKey || event.ctrlKey || event.metaKey) {
      return;
    }
    var target = event.target;
    var inValue = target instanceof HTMLInputElement && target.name === "value";
    var typing = inValue && target.value !== "";
    // the card's main control: the value input, or a document-level item's Settle button
    var primary = inValue || (target instanceof HTMLElement && target.matches("#card button[autofocus]"));
    var elsewhere = !inValue && target instanceof HTMLElement &&
      (target.isContentEditable || target.tagName === "INPUT" || target.tagName === "SELECT" ||
       target.tagName === "TEXTAREA");
    if (elsewhere) {
      return;
    }
    var rel = null;
    if (event.key === "Tab" && !event.shiftKey && (primary || target === document.body)) {
      rel = "next";
    } else if (event.key === "ArrowDown" || event.key === "PageDown") {
      rel = "next";
    } else if (event.key === "ArrowUp" || event.key === "PageUp") {
      rel = "prev";
    } else if (event.key === "ArrowRight" && !typing && (primary || target === document.body)) {
      rel = "next";
    } else if (event.key === "ArrowLeft" && !typing && (primary || target === document.body)) {
      rel = "prev";
    } else if (event.key === "Escape" && inValue) {
      target.value = "";
      event.preventDefault();
      return;
    }
    if (rel !== null && move(rel)) {
      event.preventDefault();
    }
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.detail && event.detail.target && event.detail.target.id === "card") {
      focusValue();
    }
  });

  // A lost session answers 401 with HX-Redirect (htmx follows it); any other failed swap reloads the page so
  // the operator never types into a card the server no longer shows.
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail && event.detail.xhr ? event.detail.xhr.status : 0;
    if (status !== 401 && status !== 409 && status !== 422) {
      var box = document.getElementById("message");
      if (box) {
        box.textContent = "The server refused (" + status + "): " +
          (event.detail.xhr.responseText || "").slice(0, 300);
      }
    }
  });

  document.addEventListener("DOMContentLoaded", focusValue);
})();
