// Mounts Stripe's Payment Element on the card payment page and confirms the intent.
// Card details are typed into Stripe's iframe and never reach Wattline.
// Stripe then sends the customer to the return URL; the webhook books the payment.
(function () {
  "use strict";
  function start() {
    var form = document.getElementById("card-payment-form");
    if (!form || typeof window.Stripe !== "function") {
      return;
    }
    var stripe = window.Stripe(form.dataset.publishableKey);
    var elements = stripe.elements({ clientSecret: form.dataset.clientSecret });
    elements.create("payment").mount("#payment-element");
    var submit = document.getElementById("card-payment-submit");
    var error = document.getElementById("card-payment-error");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      submit.disabled = true;
      error.hidden = true;
      stripe
        .confirmPayment({ elements: elements, confirmParams: { return_url: form.dataset.returnUrl } })
        .then(function (result) {
          // Only reached when the payment could not be confirmed (else Stripe redirects).
          error.textContent = (result.error && result.error.message) || form.dataset.failureMessage;
          error.hidden = false;
          submit.disabled = false;
          error.focus();
        });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
