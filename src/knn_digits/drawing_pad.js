// The drawing pad (knn_digits/drawing_pad.py): a plain 2D <canvas> that follows the pointer
// at once, and after every finished stroke, undo, redo or clear sets the component's value to
// the strokes, numbered (knn_digits/canvas.py reads them). Runs as gr.HTML's js_on_load, with
// `element`, `props` and `trigger` given.
const canvas = element.querySelector("canvas");
const context = canvas.getContext("2d");
const width = canvas.width;
const height = canvas.height;
const radius = Number(canvas.dataset.radius);
const buttons = Object.fromEntries(
  [...element.querySelectorAll("button[data-action]")].map((b) => [b.dataset.action, b]));
let strokes = [];
let undone = [];
let current = null;
let erasing = false;
let version = 0;

function ink(erase) {
  context.strokeStyle = context.fillStyle = erase ? "#ffffff" : "#000000";
  context.lineWidth = 2 * radius;
  context.lineCap = context.lineJoin = "round";
}

function paint(stroke) {
  const p = stroke.points;
  ink(stroke.erase);
  context.beginPath();
  context.moveTo(p[0], p[1]);
  for (let i = 2; i < p.length; i += 2) context.lineTo(p[i], p[i + 1]);
  if (p.length === 2) context.lineTo(p[0] + 0.01, p[1]);  // a tap: a dot
  context.stroke();
}

function repaint() {
  context.fillStyle = "#ffffff";
  context.fillRect(0, 0, width, height);
  strokes.forEach(paint);
}

function refresh() {
  buttons.undo.disabled = strokes.length === 0;
  buttons.redo.disabled = undone.length === 0;
  buttons.clear.disabled = strokes.length === 0;
  buttons.brush.classList.toggle("selected", !erasing);
  buttons.erase.classList.toggle("selected", erasing);
  buttons.brush.setAttribute("aria-pressed", String(!erasing));
  buttons.erase.setAttribute("aria-pressed", String(erasing));
}

// A new state of the canvas: its number goes with it, and comes back with its answer.
function publish() {
  version += 1;
  canvas.dataset.version = String(version);
  props.value = {version, width, height, strokes: strokes.map((s) => ({...s}))};
  refresh();
}

function at(event) {
  const box = canvas.getBoundingClientRect();
  const x = ((event.clientX - box.left) * width) / box.width;
  const y = ((event.clientY - box.top) * height) / box.height;
  return [Math.round(x * 10) / 10, Math.round(y * 10) / 10];
}

function extend(event) {
  const [x, y] = at(event);
  const p = current.points;
  const n = p.length;
  if (n && p[n - 2] === x && p[n - 1] === y) return;
  ink(current.erase);
  context.beginPath();
  if (n) context.moveTo(p[n - 2], p[n - 1]);
  else context.moveTo(x, y);
  context.lineTo(n ? x : x + 0.01, y);
  context.stroke();
  p.push(x, y);
}

canvas.addEventListener("pointerdown", (event) => {
  if (event.button > 0) return;
  event.preventDefault();
  canvas.setPointerCapture?.(event.pointerId);
  current = {points: [], radius, erase: erasing};
  extend(event);
});
canvas.addEventListener("pointermove", (event) => {
  if (!current) return;
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
  (events.length ? events : [event]).forEach(extend);
});
const finish = () => {
  if (!current) return;
  strokes.push(current);
  undone = [];
  current = null;
  publish();
};
canvas.addEventListener("pointerup", finish);
canvas.addEventListener("pointercancel", finish);
canvas.addEventListener("lostpointercapture", finish);

buttons.brush.addEventListener("click", () => { erasing = false; refresh(); });
buttons.erase.addEventListener("click", () => { erasing = true; refresh(); });
buttons.undo.addEventListener("click", () => {
  if (!strokes.length) return;
  undone.push(strokes.pop());
  repaint();
  publish();
});
buttons.redo.addEventListener("click", () => {
  if (!undone.length) return;
  strokes.push(undone.pop());
  repaint();
  publish();
});
buttons.clear.addEventListener("click", () => {
  if (!strokes.length) return;
  strokes = [];
  undone = [];
  repaint();
  publish();
});

repaint();
refresh();
canvas.dataset.ready = "true";  // listeners attached: strokes count from now on
