// The printable quote's one button: print, or save as PDF from the phone's print dialog.
document.addEventListener("click", (event) => {
  if (event.target.closest("[data-print]")) window.print();
});
