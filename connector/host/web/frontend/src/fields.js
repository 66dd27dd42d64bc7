// Field paths as connectors report them ("oauth2.jwt.signature_key", "oauth2.authorization_parameters[0].value")
// turned into what react-jsonschema-form understands: a tab, an error schema, a uiSchema class, an element id.

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

export function highlightUiSchema(uiSchema, path) {
  const copy = structuredClone(uiSchema || {});
  let node = copy;
  for (const part of path) {
    const key = /^\d+$/.test(part) ? "items" : part;
    node[key] = node[key] && typeof node[key] === "object" ? node[key] : {};
    node = node[key];
  }
  node["ui:classNames"] = [node["ui:classNames"], "field-to-fix"].filter(Boolean).join(" ");
  return copy;
}

// The element of the deepest part of the path that the form shows (a section hidden by the chosen grant type has no
// element; its closest shown parent is highlighted instead).
export function elementFor(tab, path) {
  for (let length = path.length; length > 0; length -= 1) {
    const element = document.getElementById([tab, ...path.slice(0, length)].join("."));
    if (element) return element;
  }
  return null;
}
