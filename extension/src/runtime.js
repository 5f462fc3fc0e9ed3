// The page that runs inside <iframe sandbox="allow-scripts" srcdoc=...>: untrusted component
// code lives only here. It reads {source, props, language} from the JSON script tag, transpiles
// with sucrase, runs the code with a `require` that knows only the allowed modules, renders it,
// and talks to the host (our widget code in the notebook page) only through postMessage.
import React from "react";
import * as ReactDOM from "react-dom";
import * as ReactDOMClient from "react-dom/client";
import * as jsxRuntime from "react/jsx-runtime";
import { transform } from "sucrase";
import * as framer from "./framer.js";

// `__esModule` so sucrase's interop hands `import React from "react"` the module itself.
const esm = (mod, fallbackDefault) => ({ ...mod, default: mod.default ?? fallbackDefault, __esModule: true });
const MODULES = {
  react: esm(React, React),
  "react-dom": esm(ReactDOM, ReactDOM),
  "react-dom/client": esm(ReactDOMClient, ReactDOMClient),
  "react/jsx-runtime": esm(jsxRuntime),
  framer: esm(framer),
};
// framer-motion is a third of the bundle: the page inlines motion.js (built on the React above,
// shared through this global) only for a component that imports it; it registers itself here.
window.__lfwbShared = { react: React, "react-dom": ReactDOM, "react-dom/client": ReactDOMClient, "react/jsx-runtime": jsxRuntime };
window.__lfwbModule = (name, mod) => { MODULES[name] = esm(mod); };
const ALLOWED = "react, react-dom, framer, framer-motion";

function send(type, data) {
  // The origin of a sandboxed srcdoc frame is opaque, so "*" is the only target it can name;
  // nothing sent here is secret, and the host checks that the message came from its own frame.
  parent.postMessage({ lfwb: "preview", type, ...data }, "*");
}

const SOURCE_URL = "component";

// The CSP allows inline scripts but not eval, so compiled code runs as an inline <script>
// whose first line is the component's first line: stack traces give the source's own lines.
function runScript(code, env) {
  window.__lfwbRun = env;
  const script = document.createElement("script");
  script.textContent =
    "(function (require, module, exports, __lfwbReact) { try { " + code +
    "\n} catch (e) { __lfwbRun.error = e; } })(__lfwbRun.require, __lfwbRun.module, __lfwbRun.module.exports, __lfwbRun.React);" +
    "\n//# sourceURL=" + SOURCE_URL;
  document.head.appendChild(script);
  script.remove();
  delete window.__lfwbRun;
  return env;
}

// Where line 1 of the source lands in a stack trace (0 in Chromium; kept measured, not assumed).
const LINE_OFFSET = (() => {
  const env = runScript("throw new Error()", { module: { exports: {} } });
  const m = String(env.error && env.error.stack).match(new RegExp(SOURCE_URL + ":(\\d+)"));
  return m ? Number(m[1]) - 1 : 0;
})();

function lineOf(error) {
  if (error && error.loc && error.loc.line) return error.loc.line; // sucrase's syntax errors
  const m = String((error && error.stack) || "").match(new RegExp(SOURCE_URL + ":(\\d+)"));
  return m ? Number(m[1]) - LINE_OFFSET : null;
}

function describe(error, stage) {
  const message = String((error && error.message) || error)
    .replace(/^Error transforming [^:]*: /, "")
    .replace(/\s*\(\d+:\d+\)$/, "");
  const name = (error && error.name) || "Error";
  return { stage, name, message, line: lineOf(error) };
}

function requireModule(name) {
  if (Object.prototype.hasOwnProperty.call(MODULES, name)) return MODULES[name];
  throw new Error(`import '${name}' is not available in the preview: only ${ALLOWED}`);
}

// JSX becomes createElement calls on a React the wrapper passes in under a name no component
// uses: sucrase's classic transform is about three times faster than its automatic one
// (react/jsx-runtime), and a component need not import React.
const JSX = { jsxPragma: "__lfwbReact.createElement", jsxFragmentPragma: "__lfwbReact.Fragment", production: true };

function compile(source, language) {
  const transforms = language === "tsx" || language === "ts" ? ["typescript", "jsx", "imports"] : ["jsx", "imports"];
  const started = performance.now();
  const { code } = transform(source, { transforms, ...JSX, filePath: "component." + language });
  return { code, ms: performance.now() - started };
}

function evaluate(code) {
  const module = { exports: {} };
  const { error } = runScript(code, { require: requireModule, module, React });
  if (error) throw error;
  const Component = module.exports.default;
  if (typeof Component !== "function" && !(Component && Component.$$typeof)) {
    throw Object.assign(new Error("the component has no default export: add `export default function Name(props) {...}`"), { name: "NoDefaultExport" });
  }
  return Component;
}

function ErrorBox({ error }) {
  const where = error.line ? ` (line ${error.line})` : "";
  return React.createElement(
    "pre",
    { className: "lfwb-error", style: { color: "#b00020", background: "#fff0f0", padding: "8px 10px", margin: 0, whiteSpace: "pre-wrap", font: "12px/1.4 ui-monospace, monospace", border: "1px solid #f3c2c2", borderRadius: 4 } },
    `${error.name}${where}: ${error.message}`,
  );
}

let broken = false; // a source that did not compile or run: props cannot bring it back
function report(error) {
  send("error", { error });
  root.render(React.createElement(ErrorBox, { error }));
}

class Boundary extends React.Component {
  constructor(props) {
    super(props);
    this.state = { error: null };
  }
  static getDerivedStateFromError(error) {
    return { error: describe(error, "render") };
  }
  componentDidCatch() {
    send("error", { error: this.state.error });
  }
  render() {
    return this.state.error ? React.createElement(ErrorBox, { error: this.state.error }) : this.props.children;
  }
}

function Painted({ onPaint, children }) {
  React.useEffect(() => {
    requestAnimationFrame(() => onPaint());
  }, []);
  return children;
}

const config = JSON.parse(document.getElementById("lfwb-config").textContent);
const root = ReactDOMClient.createRoot(document.getElementById("root"));
let Component = null;
let transpileMs = null;
let props = config.props || {};

function render() {
  if (!Component) return;
  const paint = () => send("ready", { transpile_ms: transpileMs, painted_at: performance.timeOrigin + performance.now() });
  root.render(React.createElement(Boundary, null, React.createElement(Painted, { onPaint: paint }, React.createElement(Component, props))));
}

// Errors outside rendering (an event handler, a timer) still reach the host and the page.
window.addEventListener("error", (e) => report(describe(e.error || e.message, "event")));
window.addEventListener("unhandledrejection", (e) => report(describe(e.reason, "event")));

window.addEventListener("message", (e) => {
  if (e.source !== parent || !e.data || e.data.lfwb !== "host") return;
  if (e.data.type === "props") {
    props = e.data.props || {};
    if (!broken) render();
  }
});

new ResizeObserver(() => {
  const box = document.getElementById("root").getBoundingClientRect();
  send("height", { height: Math.ceil(box.bottom + 8) });
}).observe(document.body);

// The component starts once the whole page has run, so motion.js (after this script) is in.
function start() {
try {
  const compiled = compile(config.source, config.language || "jsx");
  transpileMs = compiled.ms;
  try {
    Component = evaluate(compiled.code);
    render();
  } catch (e) {
    broken = true;
    report(describe(e, "run"));
  }
} catch (e) {
  broken = true;
  report(describe(e, "transpile"));
}
send("loaded", {});
}
document.addEventListener("DOMContentLoaded", start);

// For the benchmark: sucrase's time on any source, in this same page.
window.lfwbTranspile = (source, language) => compile(source, language).ms;
