// Printable documents: the "Print" button (no inline onclick: the pages' CSP allows no inline script).
document.addEventListener("click", (event) => {
  if (event.target instanceof Element && event.target.closest("[data-print]")) window.print();
});
