/* The card form: Stripe.js (or localstripe's stand-in) collects the card and confirms
   the SetupIntent; the page then posts the payment method id to the server, which
   attaches it to the brokerage's Stripe customer.

   Stripe's own form lives in an iframe and reads a card however it is typed. The
   stand-in (under `make run` and in tests) is five bare inputs that take exactly 16
   digits, MM, YY and 3 digits: this script labels them, reads them as people type them
   ("4242 4242 4242 4242", "2034") and says beside the field what is wrong. */
(function () {
  "use strict";
  var form = document.getElementById("card-form");
  if (!form || typeof Stripe === "undefined") { return; }
  var stripe = Stripe(form.dataset.publishableKey);
  var card = stripe.elements().create("card");
  card.mount("#card-element");
  var errors = document.getElementById("card-errors");
  var button = document.getElementById("card-submit");
  var standIn = document.querySelector("#card-element input") !== null;
  var FIELDS = {
    number: {label: "Card number", placeholder: "1234 1234 1234 1234",
             autocomplete: "cc-number", maxlength: "23"},
    exp_month: {label: "Expiry month (MM)", placeholder: "MM",
                autocomplete: "cc-exp-month", maxlength: "2"},
    exp_year: {label: "Expiry year (YY)", placeholder: "YY",
               autocomplete: "cc-exp-year", maxlength: "4"},
    cvc: {label: "Security code (CVC)", placeholder: "CVC", autocomplete: "cc-csc",
          maxlength: "3"},
    postal_code: {label: "Billing ZIP code", placeholder: "ZIP",
                  autocomplete: "postal-code", maxlength: "10"}
  };

  function input(name) {
    return document.querySelector('#card-element input[data-field="' + name + '"]');
  }

  function dress() {
    // localstripe names each input by its placeholder; give each a label and a hint
    // that fits a phone, and keep the name for reading it back.
    var note = document.querySelector("#card-element span");
    if (note) {
      note.textContent = "Test mode: localstripe's card form";
      note.className = "card-test-note";
    }
    Object.keys(FIELDS).forEach(function (name) {
      var el = document.querySelector('#card-element input[placeholder="' + name + '"]');
      if (!el) { return; }
      var field = FIELDS[name];
      el.dataset.field = name;
      el.className = "card-" + name.replace("_", "-");
      el.setAttribute("placeholder", field.placeholder);
      el.setAttribute("aria-label", field.label);
      el.setAttribute("autocomplete", field.autocomplete);
      el.setAttribute("inputmode", "numeric");
      el.setAttribute("maxlength", field.maxlength);
      el.removeAttribute("size");
      // its own handler jumps to the next input after 16 characters, spaces included,
      // which splits "4242 4242 4242 4242" across two fields; the card is read on submit
      el.oninput = null;
    });
  }

  function digits(name) {
    return (input(name).value || "").replace(/[\s-]/g, "");
  }

  function standInCard() {
    // What was typed, as localstripe takes it; or the first problem, with its field.
    var number = digits("number");
    var month = digits("exp_month");
    var year = digits("exp_year");
    var cvc = digits("cvc");
    if (!/^\d{16}$/.test(number)) {
      return {field: "number", message: "Card number: the 16 digits on the card, " +
              "like 4242 4242 4242 4242."};
    }
    if (!/^\d{1,2}$/.test(month) || +month < 1 || +month > 12) {
      return {field: "exp_month", message: "Expiry month: 01 to 12, like 12."};
    }
    if (/^20\d{2}$/.test(year)) { year = year.slice(2); }
    if (!/^\d{2}$/.test(year)) {
      return {field: "exp_year", message: "Expiry year: two digits, like 34 for 2034."};
    }
    if (!/^\d{3}$/.test(cvc)) {
      return {field: "cvc", message: "Security code: the 3 digits on the back of the card."};
    }
    return {card: {number: number, exp_month: month, exp_year: "20" + year, cvc: cvc},
            postal_code: (input("postal_code").value || "").trim()};
  }

  function showError(message, field) {
    errors.textContent = "";
    var item = document.createElement("li");
    item.textContent = message;
    errors.appendChild(item);
    document.querySelectorAll("#card-element input").forEach(function (el) {
      el.removeAttribute("aria-invalid");
    });
    if (field && input(field)) {
      input(field).setAttribute("aria-invalid", "true");
      input(field).focus();
    }
    button.disabled = false;
  }

  function paymentMethod() {
    if (!standIn) { return {payment_method: {card: card}}; }
    var typed = standInCard();
    if (typed.message) { return typed; }
    return {payment_method: {card: typed.card,
                             billing_details: {address: {postal_code: typed.postal_code}}}};
  }

  if (standIn) { dress(); }

  form.addEventListener("submit", function (event) {
    if (document.getElementById("payment_method_id").value) { return; }
    event.preventDefault();
    var data = paymentMethod();
    if (data.message) {
      showError(data.message, data.field);
      return;
    }
    errors.textContent = "";
    button.disabled = true;
    stripe.confirmCardSetup(form.dataset.clientSecret, data)
      .then(function (result) {
        if (result.error) {
          var message = result.error.message;
          if (!message || message === "Bad request") {
            message = "The card was not accepted. Check the number, the expiry and the CVC.";
          }
          showError(message);
          return;
        }
        var method = result.setupIntent.payment_method;
        document.getElementById("payment_method_id").value =
          typeof method === "string" ? method : method.id;
        form.submit();
      })
      .catch(function () { showError("Could not reach Stripe. Check your connection."); });
  });
})();
