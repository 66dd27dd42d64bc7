// Field paths as connectors report them ("oauth2.jwt.signature_key", "oauth2.authorization_parameters[0].value")
// turned into what react-jsonschema-form understands: a tab, an error schema, a uiSchema class, an element id.
//
// The page gives every element the id of its field's path in the config ("oauth2.jwt.signature_key.pkcs12"), the same
// inside a oneOf option (rjsf names the option selector "<path>__oneof_select"). What differs inside an option is the
// UI schema: rjsf draws option i of a oneOf/anyOf with the UI schema's "oneOf"/"anyOf" array entry i when the UI
// schema has one, so a class for a field in an option goes there.

const BRANCHES = ["oneOf", "anyOf"];
const SAME_PLACE = ["allOf"];
const CONDITIONALS = ["then", "else"];

export function parseField(field, tabNames) {
  if (!field) return null;
  const parts = String(field).replace(/\[(\d+)\]/g, ".$1").split(".").filter((part) => part !== "");
  if (parts.length === 0) return null;
  const tab = tabNames.includes(parts[0]) ? parts[0] : null;
  return { field, tab, path: tab ? parts.slice(1) : parts };
}

export function errorSchemaFor(path, message) {
  const root = {};
  let node = root;
  for (const part of path) {
    node[part] = node[part] || {};
    node = node[part];
  }
  node.__errors = [message];
  return root;
}

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function resolveRef(node, root) {
  const ref = isObject(node) ? node.$ref : undefined;
  if (typeof ref !== "string" || !ref.startsWith("#/")) return node;
  let target = root;
  for (const key of ref.slice(2).split("/")) target = isObject(target) ? target[decodeURIComponent(key)] : undefined;
  return isObject(target) ? { ...target, ...node, $ref: undefined } : node;
}

function child(ui, key) {
  if (!isObject(ui[key])) ui[key] = {};
  return ui[key];
}

// Every (schema, UI schema) pair that rjsf may draw at one place in the data: the node itself, the branches it merges
// into it (allOf, if/then/else), and each option of a oneOf/anyOf with the UI schema rjsf gives that option.
function alternatives(schema, ui, root, depth = 0) {
  const node = resolveRef(schema, root);
  if (!isObject(node) || depth > 20) return [];
  const found = [[node, ui]];
  for (const keyword of [...SAME_PLACE, ...CONDITIONALS]) {
    const branches = keyword === "allOf" ? node[keyword] || [] : [node[keyword]];
    for (const branch of branches) found.push(...alternatives(branch, ui, root, depth + 1));
  }
  for (const keyword of BRANCHES) {
    const options = Array.isArray(node[keyword]) ? node[keyword] : [];
    const optionUis = Array.isArray(ui[keyword]) ? ui[keyword] : null;
    options.forEach((option, index) => {
      let optionUi = ui;
      if (optionUis && index < optionUis.length) {
        if (!isObject(optionUis[index])) optionUis[index] = {};
        optionUi = optionUis[index];
      }
      found.push(...alternatives(option, optionUi, root, depth + 1));
    });
  }
  return found;
}

// The UI schema nodes of a path's field in every option that has it (only the chosen option's is drawn).
function uiNodesFor(schema, ui, path) {
  let places = [[schema, ui]];
  for (const part of path) {
    const next = [];
    for (const [node, nodeUi] of places.flatMap(([s, u]) => alternatives(s, u, schema))) {
      if (/^\d+$/.test(part) && isObject(node.items)) next.push([node.items, child(nodeUi, "items")]);
      else if (isObject(node.properties) && part in node.properties) next.push([node.properties[part], child(nodeUi, part)]);
    }
    if (next.length === 0) return [];
    places = next;
  }
  return [...new Set(places.map(([, nodeUi]) => nodeUi))];
}

// Without a schema to follow (or a path it does not know), the UI schema is followed by the path's names alone.
function uiNodeByName(ui, path) {
  let node = ui;
  for (const part of path) node = child(node, /^\d+$/.test(part) ? "items" : part);
  return node;
}

// A copy of the UI schema with the field at `path` marked "field-to-fix", wherever rjsf looks for it.
export function highlightUiSchema(schema, uiSchema, path) {
  const copy = structuredClone(uiSchema || {});
  const nodes = schema ? uiNodesFor(schema, copy, path) : [];
  for (const node of nodes.length ? nodes : [uiNodeByName(copy, path)]) {
    node["ui:classNames"] = [node["ui:classNames"], "field-to-fix"].filter(Boolean).join(" ");
  }
  return copy;
}

function isShown(element) {
  return element.getClientRects().length > 0;
}

// The deepest part of the path that the form shows, as { path, element }: a field of another sign-in method (or of
// an option not chosen) has no element, a hidden input no box; its closest shown parent stands for it.
export function shownField(tab, path) {
  for (let length = path.length; length > 0; length -= 1) {
    const element = document.getElementById([tab, ...path.slice(0, length)].join("."));
    if (element && isShown(element)) return { path: path.slice(0, length), element };
  }
  const element = document.getElementById(tab);
  return { path: [], element: element && isShown(element) ? element : null };
}

// Keywords whose subschema applies at the same place in the data, and whether an index or name follows them.
const IN_PLACE = { allOf: true, dependentSchemas: true, if: false, then: false, else: false, not: false };

// Whether a validation error belongs to what the form draws. ajv checks every option of a oneOf/anyOf and says why
// each one fails (a client secret the JWT method does not have, "must NOT have additional properties" from the
// others); rjsf would show all of it. The page keeps an error only when, at each oneOf/anyOf its schema path passes,
// it is the option chosen in that place's selector (<tab>.<path>__oneof_select), and drops the summary ("must match
// exactly one schema") where the selector shows the choice and no option passes.
function inChosenOptions(tab, error) {
  const data = String(error.property || "").split(".").filter((part) => part !== "");
  const segments = String(error.schemaPath || "").replace(/^#\/?/, "").split("/");
  const at = [];
  for (let index = 0; index < segments.length; index += 1) {
    const segment = segments[index];
    if (segment === "properties" || segment === "prefixItems") {
      at.push(data[at.length]);
      index += 1;
    } else if (segment === "items") {
      at.push(data[at.length]);
    } else if (segment === "oneOf" || segment === "anyOf") {
      const selector = document.getElementById(`${[tab, ...at].join(".")}__${segment.toLowerCase()}_select`);
      const option = segments[index + 1];
      if (option === undefined) return !(selector && !error.params?.passingSchemas);
      if (selector && selector.value !== option) return false;
      index += 1;
    } else if (segment in IN_PLACE) {
      if (IN_PLACE[segment]) index += 1;
    } else {
      return true; // a keyword, or a jump to $defs: no more options on the way
    }
  }
  return true;
}

// rjsf's transformErrors for one tab: the errors of the chosen options only.
export function chosenOptionErrors(tab) {
  return (errors) => errors.filter((error) => inChosenOptions(tab, error));
}
