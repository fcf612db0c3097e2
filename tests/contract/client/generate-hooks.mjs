// Names a TanStack Query hook after each operationId, as the admin UI's generator does
// (`get__api_configs_{mac_address}` -> `useGetConfigsByMacAddress`), and writes their
// declarations to generated/hooks.ts, typed by the operation openapi-typescript generated.
// hooks.ts imports the names the UI imports: a renamed operationId stops it compiling.
import { readFileSync, writeFileSync } from "node:fs";

const [documentPath, outputPath] = process.argv.slice(2);
const document = JSON.parse(readFileSync(documentPath, "utf8"));

const pascal = (word) => word.charAt(0).toUpperCase() + word.slice(1);

export function hookName(operationId) {
  const [method, ...rest] = operationId.split("_");
  const words = rest
    .join("_")
    .split(/[_./]+/)
    .filter((word) => word !== "" && word !== "api");
  const parts = [];
  for (let i = 0; i < words.length; i += 1) {
    const word = words[i];
    if (word.startsWith("{")) {
      // A path parameter, `{mac_address}`, split on its underscore above: gather it back.
      const name = [word.slice(1)];
      while (!words[i].endsWith("}")) {
        i += 1;
        name.push(words[i]);
      }
      name[name.length - 1] = name[name.length - 1].replace(/}$/, "");
      parts.push("By" + name.map(pascal).join(""));
    } else {
      parts.push(pascal(word));
    }
  }
  return "use" + pascal(method.toLowerCase()) + parts.join("");
}

const lines = ['import type { operations } from "./schema";', ""];
const seen = new Set();
for (const operations of Object.values(document.paths)) {
  for (const operation of Object.values(operations)) {
    const name = hookName(operation.operationId);
    if (seen.has(name)) {
      throw new Error(`two operations give the hook name ${name}`);
    }
    seen.add(name);
    lines.push(`export declare function ${name}(): operations["${operation.operationId}"];`);
  }
}
writeFileSync(outputPath, lines.join("\n") + "\n");
console.log([...seen].sort().join("\n"));
