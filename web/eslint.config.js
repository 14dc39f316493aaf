// ESLint (flat config) for the page's modules: browser ES modules, plus the node:test
// files beside them. `make lint` runs it from the npm lockfile's eslint.
import js from "@eslint/js";
import globals from "globals";

export default [
  js.configs.recommended,
  {
    files: ["static/js/**/*.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: { ...globals.browser } },
    rules: {
      "no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      eqeqeq: ["error", "smart"],
      "prefer-const": "error",
      "no-var": "error",
    },
  },
  {
    files: ["static/js/**/*.test.mjs"],
    languageOptions: { globals: { ...globals.node } },
  },
];
