// The report's stylesheet: a sidebar of tensors on wide screens, a sticky
// scrolling strip on narrow ones; charts fill their box.
export const HTML_STYLE = `
:root { --fg:#1d2330; --muted:#5b6472; --line:#dde1e7; --bg:#f7f8fa; --high:#c0392b; --medium:#d68910; --info:#2e86c1; }
* { box-sizing: border-box; }
html { scroll-behavior: smooth; }
body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--fg); background:var(--bg); }
header { padding:14px 20px 8px; background:white; border-bottom:1px solid var(--line); }
header h1 { margin:0; font-size:20px; }
.muted { color:var(--muted); }
.layout { display:flex; align-items:flex-start; }
nav { position:sticky; top:0; flex:0 0 250px; max-height:100vh; overflow:auto; padding:10px 8px; background:white; border-right:1px solid var(--line); }
nav ul { list-style:none; margin:6px 0 0; padding:0; }
nav a { display:block; padding:3px 6px; border-radius:4px; color:var(--fg); text-decoration:none; font-size:12.5px; white-space:nowrap; overflow:hidden; text-overflow:ellipsis; }
nav a:hover, nav a.current { background:#e8eef7; }
nav .nav-top { font-weight:600; }
.dot { display:inline-block; width:8px; height:8px; border-radius:50%; margin-right:6px; background:var(--info); }
a.sev-high .dot { background:var(--high); } a.sev-medium .dot { background:var(--medium); }
main { flex:1 1 auto; min-width:0; padding:8px 20px 40px; }
section { background:white; border:1px solid var(--line); border-radius:8px; padding:10px 16px 14px; margin:12px 0; scroll-margin-top:12px; }
section h2 { font-size:16px; margin:4px 0 8px; word-break:break-all; }
h3 { font-size:14px; margin:14px 0 6px; }
ul.findings { list-style:none; padding:0; margin:0 0 8px; }
ul.findings li { padding:5px 8px; margin:4px 0; border-left:4px solid var(--info); background:#f4f8fc; border-radius:3px; }
ul.findings li.sev-high { border-color:var(--high); background:#fcf1f0; }
ul.findings li.sev-medium { border-color:var(--medium); background:#fdf6ea; }
.badge { display:inline-block; font-size:10.5px; text-transform:uppercase; letter-spacing:.04em; color:var(--muted); min-width:48px; }
.tref { font-family:ui-monospace, monospace; font-size:12.5px; }
.charts { display:grid; grid-template-columns:repeat(auto-fit, minmax(340px, 1fr)); gap:12px; margin-top:8px; }
figure.chart-box { margin:0; min-width:0; border:1px solid var(--line); border-radius:6px; padding:6px 8px; }
figure.chart-box.wide { grid-column:1 / -1; }
.chart-title { font-weight:600; font-size:12.5px; margin-bottom:2px; }
.chart { width:100%; min-height:120px; }
.caption { font-size:12px; color:var(--muted); margin-top:2px; }
.table-wrap { overflow-x:auto; }
table { border-collapse:collapse; font-size:12.5px; margin:4px 0 8px; }
th, td { padding:3px 8px; border-bottom:1px solid var(--line); text-align:left; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
details summary { cursor:pointer; color:var(--muted); margin:4px 0; }
footer { margin-top:16px; font-size:12px; }
@media (max-width: 860px) {
  .layout { display:block; }
  nav { position:sticky; top:0; z-index:5; max-height:none; border-right:none; border-bottom:1px solid var(--line); display:flex; gap:4px; overflow-x:auto; padding:6px; }
  nav ul { display:flex; gap:2px; margin:0; }
  nav a { font-size:12px; }
  nav .nav-top { flex:0 0 auto; padding-right:8px; }
  main { padding:4px 8px 30px; }
  section { scroll-margin-top:48px; padding:8px 10px; }
  .charts { grid-template-columns:1fr; }
}
`;
