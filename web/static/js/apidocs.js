// A readable view of /api/openapi.json: every operation, its parameters, body and responses.
const docs = document.getElementById("docs");

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text != null) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

function schemaText(schema, components) {
  if (!schema) return "";
  if (schema.$ref) return schemaText(components[schema.$ref.split("/").pop()], components);
  return JSON.stringify(schema, null, 2);
}

const doc = await (await fetch("/api/openapi.json")).json();
const components = doc.components?.schemas || {};
docs.replaceChildren(el("p", doc.info.description, "muted"));
for (const [path, operations] of Object.entries(doc.paths)) {
  for (const [method, op] of Object.entries(operations)) {
    const card = el("section", null, "card");
    const head = el("h2");
    head.append(el("span", method.toUpperCase(), `method method-${method}`), ` ${path}`);
    card.append(head, el("p", op.summary));
    if (op.security) card.append(el("p", "Needs the API token (Authorization: Bearer …).", "muted"));
    for (const p of op.parameters || []) {
      card.append(el("p", `${p.in} parameter ${p.name}${p.required ? " (required)" : ""}: ${JSON.stringify(p.schema)}`, "muted"));
    }
    const body = op.requestBody?.content?.["application/json"]?.schema;
    if (body) {
      card.append(el("h3", "Request body"), el("pre", schemaText(body, components)));
    }
    card.append(el("h3", "Responses"));
    const list = el("ul");
    for (const [code, response] of Object.entries(op.responses)) list.append(el("li", `${code} — ${response.description}`));
    card.append(list);
    docs.append(card);
  }
}
