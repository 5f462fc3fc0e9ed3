// Bundles the preview's runtime page and copies the widget's host code into ../lfwb/static/.
// `make setup` runs it after `npm ci`; the wheel ships lfwb/static/.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync, statSync } from "node:fs";

const out = new URL("../lfwb/static/", import.meta.url).pathname;
mkdirSync(out, { recursive: true });

const common = {
  bundle: true,
  minify: true,
  format: "iife",
  target: ["chrome100", "firefox100", "safari15"],
  define: { "process.env.NODE_ENV": '"production"' },
  legalComments: "none",
  logLevel: "warning",
};

// motion.js takes React from the page's runtime.js (window.__lfwbShared): two Reacts in one
// page would break hooks.
const sharedReact = {
  name: "shared-react",
  setup(b) {
    b.onResolve({ filter: /^react(-dom)?(\/.*)?$/ }, (args) => ({ path: args.path, namespace: "shared" }));
    b.onLoad({ filter: /.*/, namespace: "shared" }, (args) => ({
      contents: `module.exports = window.__lfwbShared[${JSON.stringify(args.path)}];`,
      loader: "js",
    }));
  },
};

await build({ ...common, entryPoints: ["src/runtime.js"], outfile: out + "runtime.js" });
await build({ ...common, entryPoints: ["src/motion.js"], outfile: out + "motion.js", plugins: [sharedReact] });
// The bundles are inlined into <script>...</script> of the frame's page: they must not close it.
for (const name of ["runtime.js", "motion.js"]) {
  if (/<\/script/i.test(readFileSync(out + name, "utf8"))) throw new Error(`${name} contains </script`);
}
copyFileSync("src/host.js", out + "host.js");
for (const name of ["runtime.js", "motion.js"]) console.log(`lfwb/static/${name}: ${(statSync(out + name).size / 1024).toFixed(0)} kB`);
