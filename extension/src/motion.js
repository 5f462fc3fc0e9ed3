// framer-motion for the preview frame, as its own bundle: runtime.js inlines it only for a
// component that imports framer-motion. Its React is runtime.js's (see build.mjs), never a copy.
import * as framerMotion from "framer-motion";

window.__lfwbModule("framer-motion", framerMotion);
