// Compile JSON Schemas as a JavaScript host does (Ajv2020, strict mode, ajv-formats) and validate a corpus.
//
// Usage: node validate.mjs JOB.json   (JOB: {"schemas": {"<name>": "<path>", ...}, "cases": [{"schema": "<name>", "data": ...}]})
// Prints one JSON object: {"compiled": {"<name>": null | "<error>"}, "results": [{"valid": bool, "errors": [...]}]}.
// "password" is registered as an annotation-only format: it tells renderers to mask a field and asserts nothing.
import { readFileSync } from "node:fs";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const job = JSON.parse(readFileSync(process.argv[2], "utf8"));
// Ajv's strict mode with type and tuple checks raised from warnings to errors; strictRequired stays off because it
// misreads a `then: {required: [...]}` whose properties a sibling `properties` defines.
const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: true });
addFormats(ajv);
ajv.addFormat("password", true);

const compiled = {};
const validators = {};
for (const [name, path] of Object.entries(job.schemas)) {
  try {
    validators[name] = ajv.compile(JSON.parse(readFileSync(path, "utf8")));
    compiled[name] = null;
  } catch (error) {
    compiled[name] = String(error.message || error);
  }
}

const results = (job.cases || []).map(({ schema, data }) => {
  const validate = validators[schema];
  if (!validate) return { valid: null, errors: [`schema ${schema} did not compile`] };
  const valid = validate(data);
  const errors = valid ? [] : validate.errors.map((e) => `${e.instancePath || "/"} ${e.message}`);
  return { valid, errors };
});

process.stdout.write(JSON.stringify({ compiled, results }));
