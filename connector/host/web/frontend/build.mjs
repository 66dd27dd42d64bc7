// Builds the page's one JavaScript file and one CSS file into ../static, the same bytes on every machine:
// pinned versions (package-lock.json), no source maps, no absolute paths, no timestamps.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const outdir = process.env.CONNECTOR_UI_OUTDIR || path.join(here, "..", "static");

await build({
  absWorkingDir: here,
  entryPoints: { app: "src/main.jsx" },
  outdir,
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  jsx: "automatic",
  charset: "utf8",
  legalComments: "eof",
  sourcemap: false,
  define: { "process.env.NODE_ENV": '"production"' },
  logLevel: "warning",
});
