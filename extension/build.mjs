// Bundles the preview's runtime page and copies the widget's host code into ../lfwb/static/.
// `make setup` runs it after `npm ci`; the wheel ships lfwb/static/.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync, statSync } from "node:fs";

const out = new URL("../lfwb/static/", import.meta.url).pathname;
mkdirSync(out, { recursive: true });

await build({
  entryPoints: ["src/runtime.js"],
  bundle: true,
  minify: true,
  format: "iife",
  target: ["chrome100", "firefox100", "safari15"],
  define: { "process.env.NODE_ENV": '"production"' },
  legalComments: "none",
  outfile: out + "runtime.js",
  logLevel: "warning",
});
// The bundle is inlined into <script>...</script> of the frame's page: it must not close it.
if (/<\/script/i.test(readFileSync(out + "runtime.js", "utf8"))) throw new Error("runtime.js contains </script");
copyFileSync("src/host.js", out + "host.js");
console.log(`lfwb/static/runtime.js: ${(statSync(out + "runtime.js").size / 1024).toFixed(0)} kB`);
