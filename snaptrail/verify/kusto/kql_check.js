#!/usr/bin/env node
// Offline checker for Microsoft Sentinel KQL, built on Microsoft's own Kusto.Language parser and binder
// (npm @kusto/language-service-next, the C# library transpiled to JS with Bridge.NET).
//
//   SNAPTRAIL_KUSTO_MODULES=DIR/node_modules node kql_check.js SCHEMA_JSON
//
// The npm package cannot ship inside snaptrail's Python package, so it is installed into a folder of
// its own (snaptrail/verify/kusto_checker.py: `kusto_dir()`); SNAPTRAIL_KUSTO_MODULES names that
// folder's node_modules, so the package is loaded from exactly there and never from a node_modules
// that happens to sit above this script. Without it, node's usual lookup applies.
// SCHEMA_JSON is snaptrail/cloudtrail/sentinel_table.json: {"table": NAME, "columns": [{"name", "type"}, ...]}.
// Protocol (JSON lines): each stdin line {"id": ..., "query": "..."} gets exactly one stdout line
//   {"id": ..., "diagnostics": [{"severity", "code", "message", "start", "length"}, ...]}
// or, if the request itself is unusable, {"id": ..., "error": "..."}. Severities are Kusto's own
// ("Error", "Warning", "Suggestion", "Information"); callers filter. Besides Kusto's parse/bind diagnostics
// and its analyzer warnings, the checker adds one lint, LITERAL_LHS (severity Error): a comparison
// (==, =~, has, contains, in, has_any, has_all, between, ...) whose left operand is a literal, e.g.
// 'requestParameters.x' =~ "y" -- valid KQL that binds, but a constant predicate.
'use strict';
const fs = require('fs');
const path = require('path');
const readline = require('readline');

const MODULES = process.env.SNAPTRAIL_KUSTO_MODULES;
const kustoFile = (file) =>
  MODULES ? path.join(MODULES, '@kusto', 'language-service-next', file) : `@kusto/language-service-next/${file}`;
require(kustoFile('bridge.min.js'));
require(kustoFile('Kusto.Language.Bridge.min.js'));

const K = global.Kusto.Language;
const Sym = K.Symbols;
const Syn = K.Syntax;
const Kind = Syn.SyntaxKind;

function loadGlobals(schemaPath) {
  const schema = JSON.parse(fs.readFileSync(schemaPath, 'utf8'));
  if (typeof schema.table !== 'string' || !Array.isArray(schema.columns) || schema.columns.length === 0) {
    throw new Error(`${schemaPath}: expected {"table": str, "columns": [{"name", "type"}, ...]}`);
  }
  const columns = schema.columns.map((col) => {
    const type = Sym.ScalarTypes.GetSymbol(String(col.type));
    if (!type) throw new Error(`${schemaPath}: column ${col.name}: unknown Kusto type ${JSON.stringify(col.type)}`);
    return new Sym.ColumnSymbol.ctor(String(col.name), type);
  });
  const table = new Sym.TableSymbol.$ctor6(schema.table, columns, null); // (name, columns, description)
  const db = new Sym.DatabaseSymbol.ctor('SentinelWorkspace', [table]);
  return K.GlobalState.Default.WithDatabase(db);
}

function listToArray(list) {
  const out = [];
  for (let i = 0; i < list.Count; i++) out.push(list.getItem(i));
  return out;
}

// Binary operators whose result is a predicate on the left operand. Arithmetic (+, -, ...) and logical
// (and, or) operators are left out: a literal there is not a "field that became a string".
const COMPARISON_KINDS = new Set(
  [
    'EqualExpression', 'NotEqualExpression', 'LessThanExpression', 'LessThanOrEqualExpression',
    'GreaterThanExpression', 'GreaterThanOrEqualExpression', 'EqualTildeExpression', 'BangTildeExpression',
    'HasExpression', 'HasCsExpression', 'NotHasExpression', 'NotHasCsExpression',
    'HasPrefixExpression', 'HasPrefixCsExpression', 'NotHasPrefixExpression', 'NotHasPrefixCsExpression',
    'HasSuffixExpression', 'HasSuffixCsExpression', 'NotHasSuffixExpression', 'NotHasSuffixCsExpression',
    'LikeExpression', 'LikeCsExpression', 'NotLikeExpression', 'NotLikeCsExpression',
    'ContainsExpression', 'ContainsCsExpression', 'NotContainsExpression', 'NotContainsCsExpression',
    'StartsWithExpression', 'StartsWithCsExpression', 'NotStartsWithExpression', 'NotStartsWithCsExpression',
    'EndsWithExpression', 'EndsWithCsExpression', 'NotEndsWithExpression', 'NotEndsWithCsExpression',
    'MatchesRegexExpression',
  ].map((name) => {
    if (typeof Kind[name] !== 'number') throw new Error(`Kusto.Language has no SyntaxKind.${name}`);
    return Kind[name];
  }),
);

function leftOperandOf(node) {
  if (Bridge.is(node, Syn.BinaryExpression)) return COMPARISON_KINDS.has(node.Kind) ? node.Left : null;
  if (
    Bridge.is(node, Syn.InExpression) || // in, in~, !in, !in~
    Bridge.is(node, Syn.HasAnyExpression) ||
    Bridge.is(node, Syn.HasAllExpression) ||
    Bridge.is(node, Syn.BetweenExpression) // between, !between
  ) {
    return node.Left;
  }
  return null;
}

function isLiteral(expr) {
  let e = expr;
  while (e && Bridge.is(e, Syn.ParenthesizedExpression)) e = e.Expression;
  return Boolean(e) && Bridge.is(e, Syn.LiteralExpression);
}

function literalLhsLint(code) {
  const found = [];
  code.Syntax.WalkElements((node) => {
    const left = leftOperandOf(node);
    if (left && isLiteral(left)) {
      found.push({
        severity: 'Error',
        code: 'LITERAL_LHS',
        message: `Left operand ${left.ToString()} is a literal, not a column: the predicate is constant`,
        start: left.TextStart,
        length: left.Width,
      });
    }
  });
  return found;
}

function check(query, globals) {
  const code = K.KustoCode.ParseAndAnalyze(query, globals);
  // GetDiagnostics: syntax + binding (KS0xx/KS1xx...). Analyzer diagnostics: Kusto's own best-practice
  // rules (KS5xx, e.g. join without kind), reported as Warning; cheap (~0.5 ms) so always included.
  const analyzer = new K.Editor.KustoCodeService.ctor(code).GetAnalyzerDiagnostics(true);
  const kusto = listToArray(code.GetDiagnostics()).concat(listToArray(analyzer)).map((d) => ({
    severity: String(d.Severity),
    code: String(d.Code),
    message: String(d.Message),
    start: d.Start,
    length: d.Length,
  }));
  return kusto.concat(literalLhsLint(code)).sort((a, b) => a.start - b.start);
}

function main() {
  const args = process.argv.slice(2);
  if (args.length !== 1) {
    process.stderr.write('usage: node kql_check.js SCHEMA_JSON  (JSON lines on stdin/stdout)\n');
    process.exit(2);
  }
  const globals = loadGlobals(args[0]);
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  rl.on('line', (line) => {
    if (!line.trim()) return;
    let id = null;
    let reply;
    try {
      const req = JSON.parse(line);
      id = req.id === undefined ? null : req.id;
      if (typeof req.query !== 'string') throw new Error('request needs a string "query"');
      reply = { id, diagnostics: check(req.query, globals) };
    } catch (err) {
      reply = { id, error: String((err && err.stack) || err) };
    }
    process.stdout.write(JSON.stringify(reply) + '\n');
  });
}

if (require.main === module) main();
module.exports = { loadGlobals, check };
