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
  if (form && form.classList.contains("filters")) form.requestSubmit();
});
