'use strict';
// Writes dist/index.mjs: an ES module entry that re-exports the CommonJS build, so that
// `import { Userfaultfd } from 'userfaultfd'` and `require('userfaultfd')` share one instance
// of the addon and its state.
const fs = require('fs');
const path = require('path');
const dist = path.join(__dirname, '..', 'dist');
const cjs = require(path.join(dist, 'index.js'));
const names = Object.keys(cjs).filter((n) => n !== 'default' && n !== '__esModule');
const body =
  "import cjs from './index.js';\n" +
  names.map((n) => `export const ${n} = cjs.${n};`).join('\n') +
  '\nexport default cjs;\n';
fs.writeFileSync(path.join(dist, 'index.mjs'), body);
