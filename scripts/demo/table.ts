/** A plain aligned text table, indented under the story's numbered steps. */
export function table(header: string[], rows: string[][], indent = "   "): string {
  const showHeader = header.some((h) => h !== "");
  const all = showHeader ? [header, ...rows] : rows;
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => indent + cells.map((c, i) => (c ?? "").padEnd(widths[i])).join("  ").trimEnd();
  const out = showHeader ? [line(header), line(widths.map((w) => "-".repeat(w)))] : [];
  return [...out, ...rows.map(line)].join("\n");
}
