// Small enhancements only; every page works without this file.
// Destructive buttons ask for confirmation before the form is sent.
document.addEventListener("submit", function (event) {
  var button = event.submitter;
  if (button && button.classList.contains("danger") && !window.confirm("Er du sikker?")) {
    event.preventDefault();
  }
});
