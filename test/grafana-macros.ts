// What Grafana and its ClickHouse plugin (grafana-clickhouse-datasource) do to a
// panel's SQL before ClickHouse sees it: Grafana substitutes the template
// variables, then the plugin's backend expands its $__ macros for the panel's
// time range and interval. Written from the plugin's documented behaviour so the
// dashboards' SQL can run against chDB in a test, exactly as a server would get it.

export interface TimeRange {
  from: Date;
  to: Date;
  /** Grafana's interval for the panel ($__timeInterval buckets), milliseconds. */
  intervalMs: number;
}

/** Variable name -> its selected values (one for a textbox, several for a multi-value). */
export type VariableValues = Record<string, readonly string[]>;

/** Macros the plugin expands; anything else named $__ is left for ClickHouse to refuse. */
export const PLUGIN_MACROS: readonly string[] = [
  'fromTime',
  'toTime',
  'fromTime_ms',
  'toTime_ms',
  'timeFilter',
  'timeFilter_ms',
  'dateFilter',
  'dateTimeFilter',
  'dt',
  'timeInterval',
  'timeInterval_ms',
  'interval_s',
];

/** Grafana's variable formats that yield quoted SQL string literals. */
export const QUOTING_FORMATS: readonly string[] = ['singlequote', 'sqlstring'];

const seconds = (d: Date) => Math.floor(d.getTime() / 1000);
const dateTime = (d: Date) => `toDateTime(${seconds(d)})`;
const dateTime64 = (d: Date) => `fromUnixTimestamp64Milli(${d.getTime()})`;
const date = (d: Date) => `toDate('${d.toISOString().slice(0, 10)}')`;

function between(column: string, from: string, to: string): string {
  return `${column} >= ${from} AND ${column} <= ${to}`;
}

function expandOne(name: string, args: string[], range: TimeRange): string {
  const { from, to } = range;
  const intervalS = Math.max(Math.floor(range.intervalMs / 1000), 1);
  const arg = (n: number) => {
    if (args.length !== n) throw new Error(`$__${name} takes ${n} argument(s), got ${args.length}`);
    return args;
  };
  switch (name) {
    case 'fromTime':
      return dateTime(from);
    case 'toTime':
      return dateTime(to);
    case 'fromTime_ms':
      return dateTime64(from);
    case 'toTime_ms':
      return dateTime64(to);
    case 'timeFilter':
      return between(arg(1)[0]!, dateTime(from), dateTime(to));
    case 'timeFilter_ms':
      return between(arg(1)[0]!, dateTime64(from), dateTime64(to));
    case 'dateFilter':
      return between(arg(1)[0]!, date(from), date(to));
    case 'dateTimeFilter':
    case 'dt': {
      const [d, t] = arg(2);
      return `(${between(d!, date(from), date(to))}) AND (${between(t!, dateTime(from), dateTime(to))})`;
    }
    case 'timeInterval':
      return `toStartOfInterval(toDateTime(${arg(1)[0]!}), INTERVAL ${intervalS} second)`;
    case 'timeInterval_ms':
      return `toStartOfInterval(toDateTime64(${arg(1)[0]!}, 3), INTERVAL ${Math.max(range.intervalMs, 1)} millisecond)`;
    case 'interval_s':
      return String(intervalS);
    default:
      throw new Error(`unknown macro $__${name}`);
  }
}

/** Expands the plugin's $__name and $__name(args) macros. */
export function expandMacros(sql: string, range: TimeRange): string {
  return sql.replace(/\$__(\w+)(?:\(([^()]*)\))?/g, (_, name: string, args?: string) =>
    expandOne(
      name,
      args === undefined || args.trim() === '' ? [] : args.split(',').map((a) => a.trim()),
      range,
    ),
  );
}

/** Variable references in SQL: $name, ${name} and ${name:format}; macros ($__) excluded. */
export const VARIABLE_REFERENCE = /\$\{(\w+)(?::(\w+))?\}|\$(?!__)(\w+)/g;

function format(values: readonly string[], fmt: string | undefined): string {
  switch (fmt) {
    case 'singlequote':
      return values.map((v) => `'${v.replace(/'/g, "\\'")}'`).join(',');
    case 'sqlstring':
      return values.map((v) => `'${v.replace(/'/g, "''")}'`).join(',');
    case undefined:
    case 'csv':
    case 'raw':
      return values.join(',');
    default:
      throw new Error(`variable format ${fmt} is not modelled here`);
  }
}

/** Substitutes template variables the way Grafana does for the given formats. */
export function substituteVariables(sql: string, values: VariableValues): string {
  return sql.replace(VARIABLE_REFERENCE, (whole, braced?: string, fmt?: string, bare?: string) => {
    const name = braced ?? bare!;
    const selected = values[name];
    if (selected === undefined) throw new Error(`no value for variable ${name} in ${whole}`);
    return format(selected, fmt);
  });
}

/** What ClickHouse receives for a panel: variables first, then the plugin's macros. */
export function renderPanelSql(sql: string, values: VariableValues, range: TimeRange): string {
  return expandMacros(substituteVariables(sql, values), range);
}
