// Browse: the entity sets the connection reaches, and a preview of the first records of one.
import { useState } from "react";
import { call } from "./api.js";

function cell(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export function Browser({ beforeCall, onError }) {
  const [filter, setFilter] = useState("");
  const [types, setTypes] = useState(null);
  const [entitySet, setEntitySet] = useState("");
  const [top, setTop] = useState(10);
  const [preview, setPreview] = useState(null);
  const [busy, setBusy] = useState(false);

  async function browse(event) {
    event.preventDefault();
    if (!(await beforeCall())) return;
    setBusy(true);
    const answer = await call("/api/browse", { filter });
    setBusy(false);
    if (!answer.ok) return onError(answer);
    setTypes(answer.object_types);
  }

  async function query(name) {
    const target = name || entitySet;
    if (!target) return;
    setEntitySet(target);
    if (!(await beforeCall())) return;
    setBusy(true);
    const answer = await call("/api/query", { entity_set: target, top: Number(top) || 10 });
    setBusy(false);
    if (!answer.ok) return onError(answer);
    setPreview({ entitySet: target, ...answer });
  }

  return (
    <div className="browser">
      <form className="inline" onSubmit={browse}>
        <label htmlFor="browse-filter">Entity sets matching</label>
        <input id="browse-filter" value={filter} placeholder="* (all), acc*, sample_?" onChange={(e) => setFilter(e.target.value)} />
        <button type="submit" id="browse-submit" className="btn btn-primary" disabled={busy}>
          Browse
        </button>
      </form>
      {types && (
        <div className="entity-sets">
          <p>{types.length} entity sets</p>
          <table className="data" aria-label="Entity sets">
            <thead>
              <tr>
                <th>Entity set</th>
                <th>Label</th>
                <th>Logical name</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {types.map((type) => (
                <tr key={type.name} data-entity-set={type.name} className={type.name === entitySet ? "selected" : ""}>
                  <td>
                    <code>{type.name}</code>
                  </td>
                  <td>{type.label}</td>
                  <td>{type.logical_name}</td>
                  <td>
                    <button type="button" className="btn btn-small" onClick={() => query(type.name)} disabled={busy}>
                      Preview
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <form
        className="inline"
        onSubmit={(event) => {
          event.preventDefault();
          query();
        }}
      >
        <label htmlFor="query-entity-set">Preview records of</label>
        <input id="query-entity-set" value={entitySet} placeholder="accounts" onChange={(e) => setEntitySet(e.target.value)} />
        <label htmlFor="query-top">first</label>
        <input id="query-top" type="number" min="1" max="50" value={top} onChange={(e) => setTop(e.target.value)} />
        <button type="submit" className="btn" disabled={busy || !entitySet}>
          Run query
        </button>
      </form>
      {preview && (
        <div className="preview">
          <p>
            {preview.records.length} records of <code>{preview.entitySet}</code>
          </p>
          <div className="table-scroll">
            <table className="data" aria-label="Query preview">
              <thead>
                <tr>
                  {preview.columns.map((column) => (
                    <th key={column}>{column}</th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {preview.records.map((record, index) => (
                  <tr key={index}>
                    {preview.columns.map((column) => (
                      <td key={column}>{cell(record[column])}</td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </div>
      )}
    </div>
  );
}
