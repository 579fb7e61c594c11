// deltahook console: the little script the pages use. Everything works without it.
"use strict";
document.addEventListener("submit", (event) => {
  // A form with data-confirm asks first (bulk retries, deletes).
  const message = event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) event.preventDefault();
});
document.addEventListener("change", (event) => {
  // Filters apply at once: the form is a GET, so the URL holds them (links and reloads keep them).
  const form = event.target.form;
  if (form && form.classList.contains("filters")) {
    sessionStorage.setItem("deltahook-filter", event.target.name);
    form.requestSubmit();
  }
});
// The filter just changed keeps the focus on the page it loads: an arrow key changes a select
// at once, and the next press must move on from there.
const changed = sessionStorage.getItem("deltahook-filter");
sessionStorage.removeItem("deltahook-filter");
if (changed) document.querySelector(`form.filters [name="${CSS.escape(changed)}"]`)?.focus();
