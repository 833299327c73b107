// Today and the lead page: tapping Call, Text or Email unfolds that lead's outcome buttons,
// so coming back from the call, one tap records how it went. The stage form shows the sale
// price and commission only for "Closed", the reason only for "Lost".
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("[data-opens]") : null;
    if (!link) { return; }
    var panel = document.getElementById(link.getAttribute("data-opens"));
    if (panel) { panel.open = true; }
  });
  var forms = document.querySelectorAll(".stage-form");
  Array.prototype.forEach.call(forms, function (form) {
    var select = form.querySelector("select[name=stage]");
    if (!select) { return; }
    function show() {
      form.setAttribute("data-stage", select.value);
    }
    select.addEventListener("change", show);
    show();
  });
})();
