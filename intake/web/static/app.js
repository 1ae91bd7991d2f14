// Small enhancements only; every page works without this file.
// Destructive buttons ask for confirmation before the form is sent.
document.addEventListener("submit", function (event) {
  var button = event.submitter;
  if (button && button.classList.contains("danger") && !window.confirm("Er du sikker?")) {
    event.preventDefault();
  }
});

// The archive export of a case: follow its progress without reloading, then show the result.
(function () {
  var box = document.getElementById("archive-progress");
  var bar = box && box.querySelector("progress");
  if (!box || !bar || !box.querySelector("[data-field=state]").textContent.match(/^Eksporterer/)) {
    return;
  }
  function poll() {
    fetch(box.dataset.url, { credentials: "same-origin" }).then(function (response) {
      return response.json();
    }).then(function (data) {
      var run = data.export;
      if (!run) { return; }
      bar.max = run.total || 1;
      bar.value = run.done;
      ["exported", "changed", "not_exported"].forEach(function (name) {
        var field = document.querySelector("[data-field=" + name + "]");
        if (field) { field.textContent = data[name]; }
      });
      if (run.running) {
        box.querySelector("[data-field=state]").textContent =
          "Eksporterer: " + run.done + " av " + run.total + " svar er gått gjennom.";
        window.setTimeout(poll, 1000);
      } else {
        window.location.reload();
      }
    });
  }
  window.setTimeout(poll, 1000);
})();
