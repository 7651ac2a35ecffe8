// The CloudFront Functions' source kept inside what AWS documents for cloudfront-js-2.0 ("JavaScript runtime
// 2.0 features for CloudFront Functions", the KeyValueStore and general helper-method pages): an allow-list,
// so whatever the page does not list is refused, whether or not Node or njs would run it. Parses each file
// as an ES module with acorn and prints {file: [problems]} as JSON; exits 1 when there is any problem.
//   node tests/edge/check_runtime.mjs functions/edge/*.js
// Where the page is silent and the check allows something, the reason is written beside it.
import { readFileSync } from 'node:fs';
import { parse } from 'acorn';

// Modules: `import cf from 'cloudfront'` (KeyValueStore page) and `import crypto from 'crypto'` (AWS's own
// kvs-jwt-verify sample); the page's `require()` form is not used, so one form is enough.
const MODULES = new Set(['cloudfront', 'crypto']);
// Statements and expressions of ES 5.1 plus what the page lists from ES 6-12: const/let, async/await,
// template literals, arrow functions, rest parameters, `**`.
const NODES = new Set([
  'Program', 'ImportDeclaration', 'ImportDefaultSpecifier', 'VariableDeclaration', 'VariableDeclarator',
  'FunctionDeclaration', 'FunctionExpression', 'ArrowFunctionExpression', 'RestElement',
  'BlockStatement', 'ExpressionStatement', 'IfStatement', 'ForStatement', 'ForInStatement', 'WhileStatement',
  'DoWhileStatement', 'ReturnStatement', 'BreakStatement', 'ContinueStatement', 'ThrowStatement', 'TryStatement',
  'CatchClause', 'SwitchStatement', 'SwitchCase', 'LabeledStatement', 'EmptyStatement',
  'Identifier', 'Literal', 'TemplateLiteral', 'TemplateElement', 'ArrayExpression', 'ObjectExpression', 'Property',
  'UnaryExpression', 'UpdateExpression', 'BinaryExpression', 'LogicalExpression', 'AssignmentExpression',
  'ConditionalExpression', 'CallExpression', 'NewExpression', 'MemberExpression', 'SequenceExpression',
  'ThisExpression', 'AwaitExpression',
]);
const LOGICAL = new Set(['&&', '||']); // `??` (ES 2020) is not listed
const ASSIGNMENTS = new Set(['=', '+=', '-=', '*=', '/=', '%=', '<<=', '>>=', '>>>=', '&=', '|=', '^=', '**=']);
const REGEXP_FLAGS = /^[gimy]*$/; // ES 5.1's g, i, m and the listed `sticky`; not s, u, d or v
// Restricted features: dynamic code, timers, process, file system and network access.
const REFUSED_NAMES = new Set([
  'eval', 'Function', 'setTimeout', 'setInterval', 'setImmediate', 'clearTimeout', 'clearInterval',
  'queueMicrotask', 'require', 'process', 'fetch', 'XMLHttpRequest', 'WebSocket',
]);
// Global functions and constructors the page lists.
const GLOBAL_CALLS = new Set([
  'decodeURI', 'decodeURIComponent', 'encodeURI', 'encodeURIComponent', 'isFinite', 'isNaN', 'parseFloat',
  'parseInt', 'atob', 'btoa', 'String', 'Number', 'Boolean', 'Error', 'EvalError', 'InternalError', 'RangeError',
  'ReferenceError', 'SyntaxError', 'TypeError', 'URIError', 'Date', 'RegExp', 'Array', 'Object', 'Promise',
  'Uint8Array', 'Int8Array', 'Uint16Array', 'Int16Array', 'Uint32Array', 'Int32Array', 'Float32Array',
  'Float64Array', 'Uint8ClampedArray', 'DataView', 'ArrayBuffer', 'TextDecoder', 'TextEncoder',
]);
// Methods the page lists (on Object, String, Number, Math, Date, Function, RegExp, JSON, Array, typed arrays,
// Promise, Symbol, TextDecoder/Encoder, console, Buffer, querystring, crypto), the KeyValueStore's
// (get, exists, meta; cf.kvs) and the event's rawQueryString(). A call is judged by its method name alone
// (no types here), so a name listed for one type passes on any: a weaker check than AWS's, stated here.
const METHODS = new Set(`
  create defineProperties defineProperty freeze getOwnPropertyDescriptor getOwnPropertyDescriptors
  getOwnPropertyNames getPrototypeOf isExtensible isFrozen isSealed keys preventExtensions seal assign entries
  values hasOwnProperty isPrototypeOf propertyIsEnumerable toString valueOf is setPrototypeOf
  fromCharCode fromCodePoint charAt concat indexOf lastIndexOf match replace search slice split substr substring
  toLowerCase trim toUpperCase codePointAt endsWith includes repeat startsWith padStart padEnd trimStart trimEnd
  replaceAll raw
  isFinite isInteger isNaN isSafeInteger parseInt parseFloat toExponential toFixed toPrecision
  abs acos acosh asin asinh atan atan2 atanh cbrt ceil clz32 cos cosh exp expm1 floor fround hypot imul log
  log1p log2 log10 max min pow random round sign sinh sin sqrt tan tanh trunc
  now parse UTC getDate getDay getFullYear getHours getMilliseconds getMinutes getMonth getSeconds getTime
  getTimezoneOffset getUTCDate getUTCDay getUTCFullYear getUTCHours getUTCMilliseconds getUTCMinutes
  getUTCMonth getUTCSeconds setDate setFullYear setHours setMilliseconds setMinutes setMonth setSeconds setTime
  setUTCDate setUTCFullYear setUTCHours setUTCMilliseconds setUTCMinutes setUTCMonth setUTCSeconds toDateString
  toISOString toJSON toLocaleDateString toLocaleString toLocaleTimeString toTimeString toUTCString
  apply bind call exec test stringify
  isArray of every filter forEach join map pop push reduce reduceRight reverse shift some sort splice unshift
  copyWithin fill find findIndex from set subarray
  isView all allSettled any reject resolve race catch finally then for keyFor
  decode encode encodeInto log
  alloc allocUnsafe byteLength compare isBuffer isEncoding equals write readInt8 readIntBE readInt16BE
  readInt32BE readIntLE readInt16LE readInt32LE readUInt8 readUIntBE readUInt16BE readUInt32BE readUIntLE
  readUInt16LE readUInt32LE readDoubleBE readDoubleLE readFloatBE readFloatLE swap16 swap32 swap64 writeInt8
  writeIntBE writeInt16BE writeInt32BE writeIntLE writeInt16LE writeInt32LE writeUInt8 writeUIntBE
  writeUInt16BE writeUInt32BE writeUIntLE writeUInt16LE writeUInt32LE writeDoubleBE writeDoubleLE writeFloatBE
  writeFloatLE escape unescape stringify
  createHash createHmac update digest
  kvs get exists meta rawQueryString
`.split(/\s+/).filter(Boolean));

function check(text) {
  const problems = [];
  let ast;
  try {
    ast = parse(text, { ecmaVersion: 'latest', sourceType: 'module', locations: true });
  } catch (error) {
    return [`does not parse as an ES module: ${error.message}`];
  }
  const refuse = (node, why) => problems.push(`line ${node.loc.start.line}: ${why}`);
  const declared = new Set();
  const collect = (node) => {
    if (!node || typeof node.type !== 'string') return;
    if (node.type === 'FunctionDeclaration' && node.id) declared.add(node.id.name);
    if (node.type === 'VariableDeclarator' && node.id.type === 'Identifier') declared.add(node.id.name);
    if (node.type === 'ImportDefaultSpecifier') declared.add(node.local.name);
    for (const value of Object.values(node)) {
      if (Array.isArray(value)) value.forEach(collect);
      else if (value && typeof value.type === 'string') collect(value);
    }
  };
  collect(ast);

  let seenCode = false;
  for (const statement of ast.body) {
    if (statement.type === 'ImportDeclaration') {
      if (seenCode) refuse(statement, 'imports come first, before any other statement');
    } else {
      seenCode = true;
    }
  }

  // An await stands alone: `var x = await f();`, `x = await f();`, `await f();` or `return await f();`.
  const awaitPlaced = (node, parent, grandparent) =>
    (parent.type === 'VariableDeclarator' && parent.init === node && grandparent.type === 'VariableDeclaration') ||
    (parent.type === 'AssignmentExpression' && parent.right === node && parent.operator === '=' &&
      grandparent.type === 'ExpressionStatement') ||
    (parent.type === 'ExpressionStatement' && parent.expression === node) ||
    (parent.type === 'ReturnStatement' && parent.argument === node);

  const params = (fn) => fn.params.forEach((p) => {
    const ok = p.type === 'Identifier' || (p.type === 'RestElement' && p.argument.type === 'Identifier');
    if (!ok) refuse(p, `parameter ${p.type} (defaults and destructuring are not in the list)`);
  });

  const visit = (node, ancestors) => {
    const parent = ancestors[ancestors.length - 1];
    const grandparent = ancestors[ancestors.length - 2];
    if (!NODES.has(node.type)) refuse(node, `${node.type} is not in the runtime 2.0 feature list`);
    switch (node.type) {
      case 'ImportDeclaration':
        if (!MODULES.has(node.source.value)) refuse(node, `module '${node.source.value}' is not a CloudFront module`);
        if (node.specifiers.length !== 1 || node.specifiers[0].type !== 'ImportDefaultSpecifier') {
          refuse(node, 'only a default import (`import cf from \'cloudfront\'`)');
        }
        if (node.attributes && node.attributes.length) refuse(node, 'import attributes are not in the list');
        break;
      case 'FunctionDeclaration':
      case 'FunctionExpression':
      case 'ArrowFunctionExpression':
        if (node.generator) refuse(node, 'generators are not in the list');
        if (node.async && !(node.type === 'FunctionDeclaration' && parent.type === 'Program')) {
          refuse(node, 'async arguments and closures are not supported: an async function must be a top-level declaration');
        }
        params(node);
        break;
      case 'VariableDeclarator':
        if (node.id.type !== 'Identifier') refuse(node, `${node.id.type}: destructuring is not in the list`);
        break;
      case 'CatchClause':
        if (!node.param || node.param.type !== 'Identifier') refuse(node, 'catch needs a plain binding (ES 5.1)');
        break;
      case 'Property':
        if (node.computed || node.method || node.shorthand || node.kind !== 'init') {
          refuse(node, 'only ES 5.1 `key: value` properties (no computed, shorthand, method or accessor)');
        }
        break;
      case 'Literal':
        if (node.bigint !== undefined) refuse(node, 'BigInt is not in the list');
        if (node.regex && !REGEXP_FLAGS.test(node.regex.flags)) refuse(node, `regular expression flags /${node.regex.flags}`);
        break;
      case 'LogicalExpression':
        if (!LOGICAL.has(node.operator)) refuse(node, `operator ${node.operator} is not in the list`);
        break;
      case 'AssignmentExpression':
        if (!ASSIGNMENTS.has(node.operator)) refuse(node, `operator ${node.operator} is not in the list`);
        if (node.left.type !== 'Identifier' && node.left.type !== 'MemberExpression') refuse(node, 'destructuring assignment');
        break;
      case 'CallExpression':
      case 'NewExpression':
      case 'MemberExpression':
        if (node.optional) refuse(node, 'optional chaining is not in the list');
        break;
      case 'AwaitExpression':
        if (!awaitPlaced(node, parent, grandparent)) {
          refuse(node, 'await inside an expression (call arguments and the like): CloudFront refuses it; assign it alone, `var x = await ...;`');
        }
        if (!ancestors.some((a) => a.type === 'FunctionDeclaration' && a.async)) refuse(node, 'await outside an async function');
        break;
      case 'Identifier': {
        const asProperty = (parent.type === 'MemberExpression' && parent.property === node && !parent.computed) ||
          (parent.type === 'Property' && parent.key === node);
        if (!asProperty && REFUSED_NAMES.has(node.name)) refuse(node, `${node.name} is a restricted feature`);
        break;
      }
      default:
        break;
    }
    if (node.type === 'CallExpression' || node.type === 'NewExpression') {
      const callee = node.callee;
      if (callee.type === 'MemberExpression' && !callee.computed && callee.property.type === 'Identifier') {
        const name = callee.property.name;
        if (!METHODS.has(name)) refuse(node, `method ${name}() is not in the runtime 2.0 list`);
        if (name === 'log' && callee.object.type === 'Identifier' && callee.object.name === 'console' && node.arguments.length > 1) {
          refuse(node, "console.log takes one argument (no comma syntax)");
        }
      } else if (callee.type === 'Identifier' && !declared.has(callee.name) && !GLOBAL_CALLS.has(callee.name)) {
        refuse(node, `${callee.name}() is neither declared here nor a listed global`);
      }
      if (node.arguments.some((a) => a.type === 'SpreadElement')) refuse(node, 'spread arguments are not in the list');
    }
    const next = ancestors.concat([node]);
    for (const [key, value] of Object.entries(node)) {
      if (key === 'loc') continue;
      if (Array.isArray(value)) value.forEach((child) => child && typeof child.type === 'string' && visit(child, next));
      else if (value && typeof value.type === 'string') visit(value, next);
    }
  };
  visit(ast, []);
  return problems;
}

const report = {};
for (const file of process.argv.slice(2)) report[file] = check(readFileSync(file, 'utf8'));
console.log(JSON.stringify(report, null, 1));
process.exit(Object.values(report).some((problems) => problems.length) ? 1 : 0);
