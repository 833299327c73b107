/* The card form: Stripe.js (or localstripe's stand-in) collects the card and confirms
   the SetupIntent; the page then posts the payment method id to the server, which
   attaches it to the brokerage's Stripe customer. */
(function () {
  "use strict";
  var form = document.getElementById("card-form");
  if (!form || typeof Stripe === "undefined") { return; }
  var stripe = Stripe(form.dataset.publishableKey);
  var card = stripe.elements().create("card");
  card.mount("#card-element");
  var errors = document.getElementById("card-errors");
  var button = document.getElementById("card-submit");

  function showError(message) {
    errors.textContent = "";
    var item = document.createElement("li");
    item.textContent = message;
    errors.appendChild(item);
    button.disabled = false;
  }

  form.addEventListener("submit", function (event) {
    if (document.getElementById("payment_method_id").value) { return; }
    event.preventDefault();
    button.disabled = true;
    stripe.confirmCardSetup(form.dataset.clientSecret, {payment_method: {card: card}})
      .then(function (result) {
        if (result.error) {
          showError(result.error.message || "The card was not accepted.");
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
