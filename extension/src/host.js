// The anywidget front end of lfwb.preview.widget.Preview: our own, trusted code in the notebook
// page. It never runs the component: it builds the sandboxed iframe (allow-scripts only, so the
// frame has an opaque origin and cannot reach this page, its cookies or the Jupyter token),
// relays props into it and reports what the frame says (ready, error, height) back to Python.

function render({ model, el }) {
  const frame = document.createElement("iframe");
  frame.setAttribute("sandbox", "allow-scripts");
  frame.setAttribute("title", "lfwb preview");
  frame.className = "lfwb-preview-frame";
  frame.style.cssText = "width:100%;border:1px solid #ddd;border-radius:4px;background:white;display:block;";
  el.appendChild(frame);

  const fixed = () => model.get("fixed_height");
  const size = () => {
    frame.style.height = `${model.get("height")}px`;
  };
  const post = (type, data) => frame.contentWindow && frame.contentWindow.postMessage({ lfwb: "host", type, ...data }, "*");
  const update = (changes) => {
    for (const [k, v] of Object.entries(changes)) model.set(k, v);
    model.save_changes();
  };

  const load = () => {
    frame.dataset.shownAt = String(performance.timeOrigin + performance.now());
    update({ status: "loading", error: "" });
    frame.srcdoc = model.get("_srcdoc");
  };

  const onMessage = (event) => {
    // Only our own frame's messages; anything else on the page is not ours to read.
    if (event.source !== frame.contentWindow) return;
    const m = event.data;
    if (!m || m.lfwb !== "preview") return;
    if (m.type === "loaded") {
      post("props", { props: model.get("props") });
    } else if (m.type === "ready") {
      frame.dataset.paintedAt = String(m.painted_at);
      if (model.get("status") !== "error") update({ status: "ready" });
    } else if (m.type === "error") {
      const e = m.error || {};
      const where = e.line ? ` (line ${e.line})` : "";
      update({ status: "error", error: `${e.name || "Error"}${where}: ${e.message}` });
    } else if (m.type === "height" && !fixed()) {
      const h = Math.max(40, Math.min(2000, Number(m.height) || 0));
      if (h !== model.get("height")) update({ height: h });
    }
  };

  window.addEventListener("message", onMessage);
  model.on("change:_srcdoc", load);
  const relayProps = () => post("props", { props: model.get("props") });
  model.on("change:props", relayProps);
  model.on("change:height", size);
  size();
  load();
  return () => {
    window.removeEventListener("message", onMessage);
    model.off("change:_srcdoc", load);
    model.off("change:props", relayProps);
    model.off("change:height", size);
  };
}

export default { render };
