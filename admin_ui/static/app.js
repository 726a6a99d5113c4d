/* Admin UI behaviour: ERP item pickers (search as you type), "Sincronizar ahora" progress, and
   small form helpers. Everything works without it too, only less comfortably. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  /* -- Item picker ------------------------------------------------------------------------ */
  function setupPicker(root) {
    var url = root.dataset.searchUrl;
    var input = root.querySelector(".picker-input");
    var list = root.querySelector(".picker-results");
    var value = root.querySelector(".picker-value");
    var chosen = root.querySelector(".picker-chosen");
    var chosenLabel = root.querySelector(".picker-chosen-label");
    var search = root.querySelector(".picker-search");
    var clear = root.querySelector(".picker-clear");
    var timer = null, seq = 0, items = [], active = -1;
    if (!input || !list || !value) return;

    function hide() { list.hidden = true; active = -1; input.setAttribute("aria-expanded", "false"); }
    function note(text) {
      list.innerHTML = "";
      var li = document.createElement("li");
      li.className = "picker-note";
      li.textContent = text;
      list.appendChild(li);
      list.hidden = false;
      items = [];
    }
    function highlight(index) {
      var options = list.querySelectorAll("li[role=option]");
      options.forEach(function (li, i) { li.setAttribute("aria-selected", i === index ? "true" : "false"); });
      if (options[index]) options[index].scrollIntoView({ block: "nearest" });
      active = index;
    }
    function pick(item) {
      value.value = item.id;
      chosenLabel.textContent = item.name + " (#" + item.id + ")";
      chosen.hidden = false;
      search.hidden = true;
      hide();
      value.dispatchEvent(new Event("change", { bubbles: true }));
    }
    function render(found) {
      items = found;
      list.innerHTML = "";
      if (!found.length) { note(root.dataset.empty); return; }
      found.forEach(function (item, i) {
        var li = document.createElement("li");
        li.setAttribute("role", "option");
        var name = document.createElement("span");
        name.className = "item-name";
        name.textContent = item.name;
        var codes = document.createElement("span");
        codes.className = "item-codes";
        var parts = ["#" + item.id];
        if (item.reference) parts.push(root.dataset.ref + " " + item.reference);
        if (item.barcodes && item.barcodes.length) parts.push(root.dataset.barcode + " " + item.barcodes.join(", "));
        codes.textContent = parts.join(" · ");
        li.appendChild(name);
        li.appendChild(codes);
        li.addEventListener("mousedown", function (event) { event.preventDefault(); pick(item); });
        li.addEventListener("mousemove", function () { highlight(i); });
        list.appendChild(li);
      });
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      highlight(0);
    }
    function run() {
      var q = input.value.trim();
      if (q.length < 2) { hide(); return; }
      var mine = ++seq;
      fetch(url + "?q=" + encodeURIComponent(q), { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) {
          return response.json().then(function (data) {
            if (!response.ok) throw new Error(data.error || root.dataset.error);
            return data;
          });
        })
        .then(function (data) { if (mine === seq) render(data.items || []); })
        .catch(function (error) { if (mine === seq) note(error.message || root.dataset.error); });
    }
    input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(run, 200); });
    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown" && items.length) { event.preventDefault(); highlight(Math.min(active + 1, items.length - 1)); }
      else if (event.key === "ArrowUp" && items.length) { event.preventDefault(); highlight(Math.max(active - 1, 0)); }
      else if (event.key === "Enter") {
        event.preventDefault(); /* Enter picks; it never submits the form by accident */
        if (items[active]) pick(items[active]);
      } else if (event.key === "Escape") { hide(); }
    });
    input.addEventListener("blur", function () { setTimeout(hide, 150); });
    if (clear) {
      clear.addEventListener("click", function () {
        value.value = "";
        chosen.hidden = true;
        search.hidden = false;
        input.value = "";
        input.focus();
      });
    }
  }

  /* -- Forms: confirmation, required picks, one submission at a time ------------------------ */
  function setupForms() {
    document.addEventListener("submit", function (event) {
      var form = event.target;
      var button = event.submitter || form.querySelector("button:not([type=button])");
      if (button && button.dataset.confirm && !window.confirm(button.dataset.confirm)) {
        event.preventDefault();
        return;
      }
      var missing = Array.prototype.filter.call(form.querySelectorAll(".picker-value[data-required]"),
        function (input) { return !input.value; });
      if (missing.length) {
        event.preventDefault();
        var picker = missing[0].closest(".picker");
        var box = picker && picker.querySelector(".picker-input");
        if (box) { box.focus(); box.classList.add("is-invalid"); }
        return;
      }
      if (form.dataset.submitting) { event.preventDefault(); return; }
      form.dataset.submitting = "1";
      if (button && button.dataset.busy) {
        button.classList.add("is-busy");
        button.textContent = button.dataset.busy;
      }
    });
    /* "Select all" boxes: hidden without JavaScript (each row's box still works). */
    document.querySelectorAll("input[data-select-all]").forEach(function (all) {
      var boxes = all.form.querySelectorAll("input[type=checkbox][name='" + all.dataset.selectAll + "']");
      all.hidden = false;
      all.addEventListener("change", function () {
        boxes.forEach(function (box) { box.checked = all.checked; });
      });
    });
    document.querySelectorAll("form[data-autosubmit] select").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
    /* Going back to a page restores it from the cache with the busy state: clear it. */
    window.addEventListener("pageshow", function () {
      document.querySelectorAll("form[data-submitting]").forEach(function (form) { delete form.dataset.submitting; });
    });
  }

  /* -- Sync now ------------------------------------------------------------------------------ */
  function setupSync() {
    var panel = document.getElementById("sync-progress");
    var form = document.getElementById("sync-now-form");
    if (!panel) return;
    var bar = document.getElementById("sync-bar");
    var message = document.getElementById("sync-message");

    function show(job) {
      panel.hidden = false;
      bar.max = job.steps_total;
      bar.value = job.steps_done;
      message.textContent = job.message;
      message.classList.toggle("text-error", job.phase === "failed");
    }
    function poll(statusUrl) {
      fetch(statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(function (job) {
          show(job);
          if (job.finished) {
            setTimeout(function () { window.location.href = panel.dataset.doneUrl + "?job=" + encodeURIComponent(job.id); }, 900);
          } else {
            setTimeout(function () { poll(statusUrl); }, 600);
          }
        })
        .catch(function () { setTimeout(function () { poll(statusUrl); }, 2000); });
    }
    if (panel.dataset.statusUrl) poll(panel.dataset.statusUrl);
    if (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var button = form.querySelector("button");
        if (button) button.disabled = true;
        fetch(form.action, {
          method: "POST", credentials: "same-origin",
          headers: { Accept: "application/json", "X-CSRF-Token": csrfToken() },
        })
          .then(function (response) {
            if (!response.ok) throw new Error(String(response.status));
            return response.json();
          })
          .then(function (job) { show(job); poll(job.status_url); })
          .catch(function () { form.submit(); }); /* fall back to a plain form post */
      }, true);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".picker").forEach(setupPicker);
    setupForms();
    setupSync();
  });
})();
