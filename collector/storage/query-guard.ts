// Decides from ClickHouse's own parse (EXPLAIN AST) whether a user's SQL may
// run as a read-only query. The engine's readonly=1 is not enough on its own:
// an inner `SETTINGS readonly=0` in the user's SQL overrides an outer one, and
// the scalar function file() reads files even under readonly=1. So the query
// is refused before it runs unless it is one SELECT without SETTINGS, without
// table functions beyond a few that only generate rows, and without file().

export interface AstNode {
  /** First word of the EXPLAIN AST line: SelectQuery, Function, Set, ... */
  kind: string;
  /** The rest of the line without the "(children N)" suffix: a function's name, ... */
  detail: string;
  children: AstNode[];
}

/** Table functions that only generate rows; `view` wraps a subquery that is checked too. */
const SAFE_TABLE_FUNCTIONS: ReadonlySet<string> = new Set([
  'numbers',
  'numbers_mt',
  'zeros',
  'zeros_mt',
  'generate_series',
  'generateSeries',
  'values',
  'view',
]);

// Scalar functions that reach outside the database, allowed by readonly=1.
const DENIED_FUNCTIONS: ReadonlySet<string> = new Set(['file', 'catboostEvaluate']);

const SELECT_KINDS = new Set(['SelectWithUnionQuery', 'SelectIntersectExceptQuery']);

/**
 * The trees of EXPLAIN AST's text (format TSV: one node per line, one space of
 * indent per level; literals are escaped, so a line break is always a node).
 */
export function parseExplainAst(text: string): AstNode[] {
  const roots: AstNode[] = [];
  const stack: { depth: number; node: AstNode }[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const depth = line.length - line.trimStart().length;
    const body = line.trim().replace(/\s*\(children \d+\)$/, '');
    const space = body.indexOf(' ');
    const node: AstNode = {
      kind: space < 0 ? body : body.slice(0, space),
      detail: space < 0 ? '' : body.slice(space + 1),
      children: [],
    };
    while (stack.length > 0 && stack[stack.length - 1]!.depth >= depth) stack.pop();
    const parent = stack[stack.length - 1];
    if (parent) parent.node.children.push(node);
    else roots.push(node);
    stack.push({ depth, node });
  }
  return roots;
}

/** Why the query must not run, or undefined when it may. */
export function refusalReason(roots: readonly AstNode[]): string | undefined {
  if (roots.length !== 1) return 'expected exactly one statement';
  const root = roots[0]!;
  if (!SELECT_KINDS.has(root.kind)) {
    return `only SELECT queries are allowed, not ${statementName(root.kind)}`;
  }
  const found = findRefused(root, undefined);
  if (found) return found;
  // A top-level SELECT's extra children are its FORMAT and INTO OUTFILE clauses.
  if (root.children.length > 1) {
    return 'FORMAT and INTO OUTFILE are not allowed: results come back as JSON rows';
  }
  return undefined;
}

function findRefused(node: AstNode, parent: AstNode | undefined): string | undefined {
  if (node.kind === 'Set') {
    return 'SETTINGS clauses are not allowed: the server sets the limits of a query';
  }
  if (node.kind === 'Function') {
    const name = functionName(node.detail);
    if (parent?.kind === 'TableExpression' && !SAFE_TABLE_FUNCTIONS.has(name)) {
      return (
        `table function ${name}() is not allowed; query the rstscope tables` +
        ` (or ${[...SAFE_TABLE_FUNCTIONS].slice(0, 4).join('(), ')}() ...)`
      );
    }
    if (DENIED_FUNCTIONS.has(name)) {
      return `function ${name}() is not allowed: it reads files on the storage host`;
    }
  }
  for (const child of node.children) {
    const found = findRefused(child, node);
    if (found) return found;
  }
  return undefined;
}

/** "file (alias f)" → "file". */
function functionName(detail: string): string {
  return detail.split(' ', 1)[0] ?? '';
}

/** InsertQuery → INSERT, AlterQuery → ALTER; other kinds are named as they are. */
function statementName(kind: string): string {
  const plain = /^([A-Z][a-z]+)Query$/.exec(kind)?.[1];
  return plain ? plain.toUpperCase() : kind;
}
