// Talks to the page's own server. Every call carries the one-time token in a header, which other sites cannot set.
const meta = document.querySelector('meta[name="connector-ui-token"]');
const token = meta ? meta.getAttribute("content") : "";

export async function call(path, body) {
  const options = {
    method: body === undefined ? "GET" : "POST",
    headers: { "X-Connector-Token": token, Accept: "application/json" },
    credentials: "same-origin",
    cache: "no-store",
  };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch (error) {
    return { ok: false, error: "The connector ui server does not answer: is `connector ui` still running?" };
  }
  try {
    return await response.json();
  } catch (error) {
    return { ok: false, error: `The server answered HTTP ${response.status}.` };
  }
}

// The token has done its job in the address bar once the page is loaded (the server set a cookie for this port):
// take it out so that it is not bookmarked, shared in a screenshot, or kept in the history.
export function forgetTokenInAddressBar() {
  const url = new URL(window.location.href);
  if (url.searchParams.has("token")) {
    url.searchParams.delete("token");
    window.history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
}
