// Sign-up: suggest a web address from the brokerage name (until the person edits it)
// and show the host the brokerage will get. The server checks the address either way.
(function () {
  "use strict";
  var name = document.getElementById("id_brokerage_name");
  var slug = document.getElementById("id_slug");
  var preview = document.getElementById("host-preview");
  if (!name || !slug || !preview) { return; }
  var suffix = preview.getAttribute("data-suffix") || "";
  var edited = slug.value !== "";

  function slugify(text) {
    return text.toLowerCase().normalize("NFKD").replace(/[\u0300-\u036f]/g, "")
      .replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40).replace(/-+$/, "");
  }
  function show() {
    preview.textContent = (slug.value.trim().toLowerCase() || "your-team") + suffix;
  }
  name.addEventListener("input", function () {
    if (!edited) { slug.value = slugify(name.value); show(); }
  });
  slug.addEventListener("input", function () { edited = slug.value !== ""; show(); });
  show();
})();
