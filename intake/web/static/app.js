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

// Keyboard shortcuts for working through the queue: j/k move between rows, Enter opens,
// x selects, a accepts a late response, r marks reviewed, n goes to «Neste», ? shows the help.
// They never fire while the focus is in a text field, or with Ctrl, Alt or Meta held.
(function () {
  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("[data-row-link]")); }
  function toggleHelp() {
    var help = document.getElementById("shortcuts");
    var button = document.querySelector("[data-shortcut-help]");
    if (!help) { return; }
    help.hidden = !help.hidden;
    if (button) { button.setAttribute("aria-expanded", String(!help.hidden)); }
  }
  var helpButton = document.querySelector("[data-shortcut-help]");
  if (helpButton) { helpButton.addEventListener("click", toggleHelp); }
  var selectAll = document.querySelector("[data-select-all]");
  if (selectAll) {
    selectAll.addEventListener("change", function () {
      document.querySelectorAll("input[name=ids]").forEach(function (box) { box.checked = selectAll.checked; });
    });
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.altKey || event.metaKey || typing(event.target)) { return; }
    var key = event.key;
    if (key === "?") { toggleHelp(); event.preventDefault(); return; }
    if (key === "j" || key === "k") {
      var links = rows();
      if (!links.length) { return; }
      var at = links.indexOf(document.activeElement);
      var next = at < 0 ? 0 : Math.min(Math.max(at + (key === "j" ? 1 : -1), 0), links.length - 1);
      links[next].focus();
      event.preventDefault();
      return;
    }
    if (key === "x") {
      var row = document.activeElement && document.activeElement.closest("[data-row]");
      var box = row && row.querySelector("input[name=ids]");
      if (box) { box.checked = !box.checked; event.preventDefault(); }
      return;
    }
    var target = document.querySelector("[data-shortcut='" + key + "']");
    if (target) { target.click(); event.preventDefault(); }
  });
})();
