// annota polygon editor: an SVG over the image, in image pixels (the viewBox is the image frame).
// Draw: click points, click the first point or double-click to close; Backspace removes the last
// point, Esc cancels. Edit: click selects, drag moves a polygon or a vertex, double-click an edge
// inserts a vertex, Alt+click removes one, Delete removes the polygon. Wheel zooms, a background
// drag pans. Completed edits go to Python as state "polygons": {rev, item, polygons}.
// Segment (when the model is there): "Click" adds a positive point (Shift/Alt/right-click: a negative
// one), "Box" drags a box; each change goes to Python as state "prompt": {item, rev, seq, points:
// [[x, y, 1|0]], box, accept}; Python answers with data "preview" (the polygon found), drawn dashed.
// Enter (or "Add shape") keeps the preview as a polygon; Backspace drops the last prompt, Esc all.
// Once a box is there, a click in Box mode is a corrective click too (a new drag is a new box);
// "Cut" makes plain clicks negative (Shift+click then adds); "Undo click" takes the last one back.
const NS = "http://www.w3.org/2000/svg";
const states = new WeakMap();

function el(name, attrs, parent) {
  const e = document.createElementNS(NS, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}

function rgba(hex, a) {
  const c = (hex || "#ffffff").replace("#", "");
  const n = parseInt(c.length === 6 ? c : "ffffff", 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${a})`;
}

function create(root) {
  const s = { polys: [], draft: [], sel: -1, mode: "draw", rev: null, item: null, view: null, drag: null,
    clicks: [], box: null, seq: 0, sentAt: {}, preview: null, proposed: [] };
  s.wrap = document.createElement("div");
  s.wrap.className = "pe-root";
  s.wrap.tabIndex = 0;
  s.bar = document.createElement("div");
  s.bar.className = "pe-bar";
  s.wrap.appendChild(s.bar);
  const btn = (label, title, fn) => {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.title = title;
    b.addEventListener("click", (e) => { e.preventDefault(); fn(); s.wrap.focus(); });
    s.bar.appendChild(b);
    return b;
  };
  s.drawBtn = btn("Draw", "Click points; click the first point or double-click to close", () => setMode(s, "draw"));
  s.editBtn = btn("Edit", "Select, move, reshape and delete polygons", () => setMode(s, "edit"));
  s.clickBtn = btn("Click", "Segment: click the object (Shift/Alt/right-click: not this part)", () => setMode(s, "click"));
  s.boxBtn = btn("Box", "Segment: drag a box around the object", () => setMode(s, "box"));
  s.addBtn = btn("Add shape", "Keep the segmented shape as a polygon (Enter)", () => sendPrompt(s, true));
  s.cutBtn = btn("Cut", "Segment: clicks remove parts of the shape (Shift+click adds one then)", () => {
    s.cut = !s.cut; s.cutBtn.classList.toggle("on", s.cut); });
  s.undoBtn = btn("Undo click", "Take the last click back (Backspace)", () => undoClick(s));
  s.delBtn = btn("Delete", "Delete the selected polygon (Delete key)", () => deleteSelected(s));
  btn("+", "Zoom in", () => zoomBy(s, 1 / 1.5));
  btn("−", "Zoom out", () => zoomBy(s, 1.5));
  btn("Fit", "Fit the image", () => fit(s));
  s.hint = document.createElement("span");
  s.hint.className = "pe-hint";
  s.bar.appendChild(s.hint);
  s.svg = el("svg", { class: "pe-svg", preserveAspectRatio: "xMidYMid meet" });
  s.wrap.appendChild(s.svg);
  s.img = el("image", { x: 0, y: 0, preserveAspectRatio: "none" }, s.svg);
  s.gPolys = el("g", {}, s.svg);
  s.gDraft = el("g", {}, s.svg);
  s.gPreview = el("g", {}, s.svg);
  s.gPrompt = el("g", {}, s.svg);
  s.gHandles = el("g", {}, s.svg);
  root.appendChild(s.wrap);
  s.svg.addEventListener("pointerdown", (e) => onDown(s, e));
  s.svg.addEventListener("pointermove", (e) => onMove(s, e));
  s.svg.addEventListener("pointerup", (e) => onUp(s, e));
  s.svg.addEventListener("dblclick", (e) => onDbl(s, e));
  s.svg.addEventListener("wheel", (e) => onWheel(s, e), { passive: false });
  s.wrap.addEventListener("keydown", (e) => onKey(s, e));
  s.svg.addEventListener("contextmenu", (e) => { if (s.mode === "click" || s.mode === "box") e.preventDefault(); });
  return s;
}

function toImage(s, e) {
  const p = s.svg.createSVGPoint();
  p.x = e.clientX;
  p.y = e.clientY;
  const q = p.matrixTransform(s.svg.getScreenCTM().inverse());
  return [q.x, q.y];
}

function clamp(s, pt) {
  return [Math.min(Math.max(pt[0], 0), s.W), Math.min(Math.max(pt[1], 0), s.H)];
}

function pxPerScreen(s) {
  const m = s.svg.getScreenCTM();
  return m && m.a ? 1 / m.a : 1;
}

function setView(s, v) {
  s.view = v;
  s.svg.setAttribute("viewBox", `${v[0]} ${v[1]} ${v[2]} ${v[3]}`);
  renderHandles(s);
  renderDraft(s);
  renderPrompt(s);
}

function fit(s) { setView(s, [0, 0, s.W, s.H]); }

function zoomBy(s, f, center) {
  const [x, y, w, h] = s.view;
  const c = center || [x + w / 2, y + h / 2];
  const nw = Math.min(Math.max(w * f, s.W / 40), s.W * 4);
  const k = nw / w;
  setView(s, [c[0] - (c[0] - x) * k, c[1] - (c[1] - y) * k, w * k, h * k]);
}

function setMode(s, mode) {
  s.mode = mode;
  s.draft = [];
  s.drawBtn.classList.toggle("on", mode === "draw");
  s.editBtn.classList.toggle("on", mode === "edit");
  s.wrap.dataset.mode = mode;
  s.clickBtn.classList.toggle("on", mode === "click");
  s.boxBtn.classList.toggle("on", mode === "box");
  s.hint.textContent = mode === "draw"
    ? "click to add points · click the first point to close · drag a handle to move a vertex"
    : mode === "edit" ? "click to select · drag to move · double-click an edge to add a vertex · Alt+click removes one"
    : mode === "click" ? "click the object · Shift/right-click: not this · Enter keeps the shape · Esc clears"
    : mode === "box" ? "drag a box around the object · then click to add a part, Shift+click to cut one · Enter keeps the shape"
    : "wheel to zoom · drag to pan";
  renderDraft(s);
  renderHandles(s);
}

function send(s) {
  const polygons = s.polys.map((p) => ({
    class_id: p.class_id,
    points: p.points.map((q) => [Math.round(q[0] * 100) / 100, Math.round(q[1] * 100) / 100]),
  }));
  s.setStateValue("polygons", { rev: s.rev, item: s.item, polygons });
}

function renderPolys(s) {
  s.gPolys.replaceChildren();
  s.polyEls = s.polys.map((p, i) => {
    const c = (s.classes[p.class_id] || {}).color || "#ffffff";
    const prop = proposedScore(s, p);
    const e = el("polygon", {
      points: p.points.map((q) => q.join(",")).join(" "),
      fill: rgba(c, i === s.sel ? 0.32 : 0.18), stroke: c, "stroke-width": i === s.sel ? 3 : 2,
      "vector-effect": "non-scaling-stroke", "data-p": i, class: prop === null ? "pe-poly" : "pe-poly pe-proposed",
    }, s.gPolys);
    if (prop !== null) {
      e.setAttribute("stroke-dasharray", "7 4");
      el("title", {}, e).textContent = `proposed by the model${prop ? ` (${Math.round(prop * 100)}%)` : ""}`;
    }
    return e;
  });
  s.delBtn.disabled = s.sel < 0 || s.mode === "view";
  renderHandles(s);
}

function samePoints(a, b) {
  return a.length === b.length && a.every((q, j) => Math.abs(q[0] - b[j][0]) < 0.02 && Math.abs(q[1] - b[j][1]) < 0.02);
}

function proposedScore(s, p) {
  for (const q of s.proposed) {
    if (q.class_id === p.class_id && samePoints(q.points, p.points)) return q.score || 0;
  }
  return null;
}

function sendPrompt(s, accept) {
  s.seq += 1;
  s.sentAt[s.seq] = performance.now();
  s.setStateValue("prompt", { item: s.item, rev: s.rev, seq: s.seq, points: s.clicks.map((q) => [...q]),
    box: s.box ? [...s.box] : null, accept: !!accept });
  renderPrompt(s);
}

function renderPrompt(s) {
  s.gPrompt.replaceChildren();
  s.gPreview.replaceChildren();
  const r = 6 * pxPerScreen(s);
  const pv = s.preview;
  const live = pv && pv.rev === s.rev && pv.item === s.item && (s.clicks.length || s.box);
  if (live && pv.points && pv.points.length >= 3) {
    const c = (s.classes[s.drawClass] || {}).color || "#ffffff";
    el("polygon", { points: pv.points.map((q) => q.join(",")).join(" "), fill: rgba(c, 0.35), stroke: "#ffffff",
      "stroke-width": 2, "stroke-dasharray": "5 3", "vector-effect": "non-scaling-stroke", class: "pe-preview",
      "pointer-events": "none" }, s.gPreview);
  }
  if (s.box) {
    const [x1, y1, x2, y2] = s.box;
    el("rect", { x: x1, y: y1, width: x2 - x1, height: y2 - y1, fill: "none", stroke: "#ffe600", "stroke-width": 2,
      "stroke-dasharray": "6 4", "vector-effect": "non-scaling-stroke", "pointer-events": "none" }, s.gPrompt);
  }
  s.clicks.forEach((q) => el("circle", { cx: q[0], cy: q[1], r, fill: q[2] ? "#22c55e" : "#ef4444", stroke: "#fff",
    "stroke-width": 2, "vector-effect": "non-scaling-stroke", class: q[2] ? "pe-pos" : "pe-neg",
    "pointer-events": "none" }, s.gPrompt));
  if (s.addBtn) s.addBtn.disabled = !(live && pv.points);
  if (s.undoBtn) s.undoBtn.disabled = !s.clicks.length;
}

function clickLabel(s, e) {
  const inv = e.shiftKey || e.altKey;
  return (s.cut ? inv : !inv) ? 1 : 0;
}

function undoClick(s) {
  if (!s.clicks.length) return;
  s.clicks.pop();
  sendPrompt(s, false);
}

function clearPrompt(s, send) {
  const had = s.clicks.length || s.box;
  s.clicks = [];
  s.box = null;
  if (had && send) sendPrompt(s, false);
  renderPrompt(s);
}

function updatePoly(s, i) {
  const e = s.polyEls && s.polyEls[i];
  if (e) e.setAttribute("points", s.polys[i].points.map((q) => q.join(",")).join(" "));
  renderHandles(s);
}

function renderHandles(s) {
  s.gHandles.replaceChildren();
  if (s.sel < 0 || s.sel >= s.polys.length || s.mode === "view") return;
  const r = 5 * pxPerScreen(s);
  s.polys[s.sel].points.forEach((q, j) => {
    el("circle", { cx: q[0], cy: q[1], r, class: "pe-handle", "data-v": j,
      "stroke-width": 1.5, "vector-effect": "non-scaling-stroke" }, s.gHandles);
  });
}

function renderDraft(s) {
  s.gDraft.replaceChildren();
  if (!s.draft.length) return;
  const c = (s.classes[s.drawClass] || {}).color || "#ffffff";
  const pts = s.hover ? [...s.draft, s.hover] : s.draft;
  el("polyline", { points: pts.map((q) => q.join(",")).join(" "), fill: "none", stroke: c,
    "stroke-width": 2, "stroke-dasharray": "6 4", "vector-effect": "non-scaling-stroke" }, s.gDraft);
  const r = 5 * pxPerScreen(s);
  s.draft.forEach((q, j) => el("circle", { cx: q[0], cy: q[1], r: j === 0 ? r * 1.4 : r,
    class: j === 0 ? "pe-first" : "pe-dpt", "vector-effect": "non-scaling-stroke" }, s.gDraft));
}

function closeDraft(s) {
  if (s.draft.length >= 3) {
    s.polys.push({ class_id: s.drawClass, points: s.draft.map((q) => clamp(s, q)) });
    s.sel = s.polys.length - 1;
    s.draft = [];
    s.hover = null;
    renderPolys(s);
    renderDraft(s);
    send(s);
  }
}

function deleteSelected(s) {
  if (s.sel < 0) return;
  s.polys.splice(s.sel, 1);
  s.sel = -1;
  renderPolys(s);
  send(s);
}

function near(s, a, b, px) {
  return Math.hypot(a[0] - b[0], a[1] - b[1]) <= px * pxPerScreen(s);
}

function onDown(s, e) {
  if (e.button === 2 && (s.mode === "click" || (s.mode === "box" && s.box))) {
    s.wrap.focus();
    s.clicks.push([...clamp(s, toImage(s, e)), 0]);
    sendPrompt(s, false);
    return;
  }
  if (e.button !== 0) return;
  s.wrap.focus();
  const pt = toImage(s, e);
  if (s.mode === "box") {
    s.svg.setPointerCapture(e.pointerId);
    s.drag = { kind: "box", start: clamp(s, pt), moved: false, prev: s.box, prevClicks: s.clicks.map((q) => [...q]) };
    return;
  }
  const t = e.target;
  s.svg.setPointerCapture(e.pointerId);
  if (t.dataset && t.dataset.v !== undefined && s.mode !== "view") {
    const j = +t.dataset.v;
    if (e.altKey && s.polys[s.sel].points.length > 3) {
      s.polys[s.sel].points.splice(j, 1);
      updatePoly(s, s.sel);
      send(s);
      s.drag = null;
      return;
    }
    s.drag = { kind: "vertex", j, start: pt, moved: false };
    return;
  }
  if (s.mode === "edit" && t.dataset && t.dataset.p !== undefined) {
    const i = +t.dataset.p;
    if (i !== s.sel) { s.sel = i; renderPolys(s); }
    s.drag = { kind: "poly", start: pt, orig: s.polys[i].points.map((q) => [...q]), moved: false };
    return;
  }
  s.drag = { kind: "pan", start: [e.clientX, e.clientY], view: [...s.view], moved: false, pt };
}

function onMove(s, e) {
  const pt = toImage(s, e);
  if (!s.drag) {
    if (s.mode === "draw" && s.draft.length) { s.hover = pt; renderDraft(s); }
    return;
  }
  const d = s.drag;
  if (d.kind === "box") {
    const q = clamp(s, pt);
    if (!d.moved) s.clicks = [];  // a new box: a new object
    d.moved = true;
    s.box = [Math.min(d.start[0], q[0]), Math.min(d.start[1], q[1]), Math.max(d.start[0], q[0]), Math.max(d.start[1], q[1])];
    renderPrompt(s);
    return;
  }
  if (d.kind === "vertex") {
    d.moved = true;
    s.polys[s.sel].points[d.j] = clamp(s, pt);
    updatePoly(s, s.sel);
  } else if (d.kind === "poly") {
    let dx = pt[0] - d.start[0], dy = pt[1] - d.start[1];
    const xs = d.orig.map((q) => q[0]), ys = d.orig.map((q) => q[1]);
    dx = Math.min(Math.max(dx, -Math.min(...xs)), s.W - Math.max(...xs));
    dy = Math.min(Math.max(dy, -Math.min(...ys)), s.H - Math.max(...ys));
    if (Math.abs(dx) + Math.abs(dy) > 0) d.moved = true;
    s.polys[s.sel].points = d.orig.map((q) => [q[0] + dx, q[1] + dy]);
    updatePoly(s, s.sel);
  } else if (d.kind === "pan") {
    const sx = e.clientX - d.start[0], sy = e.clientY - d.start[1];
    if (Math.abs(sx) + Math.abs(sy) > 4) d.moved = true;
    if (d.moved) {
      const k = pxPerScreenFor(s, d.view);
      setView(s, [d.view[0] - sx * k, d.view[1] - sy * k, d.view[2], d.view[3]]);
    }
  }
}

function pxPerScreenFor(s, view) {
  const rect = s.svg.getBoundingClientRect();
  return Math.max(view[2] / rect.width, view[3] / rect.height);
}

function onUp(s, e) {
  const d = s.drag;
  s.drag = null;
  if (!d) return;
  if ((d.kind === "vertex" || d.kind === "poly") && d.moved) { send(s); return; }
  if (d.kind === "box") {
    const b = s.box;
    const big = b && (b[2] - b[0]) > 4 * pxPerScreen(s) && (b[3] - b[1]) > 4 * pxPerScreen(s);
    if (d.moved && big) { sendPrompt(s, false); return; }
    if (d.prev) {  // a click on a box's shape: a corrective click
      s.box = d.prev;
      s.clicks = d.prevClicks;
      s.clicks.push([...d.start, clickLabel(s, e)]);
      sendPrompt(s, false);
      return;
    }
    s.box = null; renderPrompt(s);
    return;
  }
  if (d.kind === "pan" && !d.moved && s.mode === "click") {
    s.clicks.push([...clamp(s, d.pt), clickLabel(s, e)]);
    sendPrompt(s, false);
    return;
  }
  if (d.kind === "pan" && !d.moved) {
    if (s.mode === "draw") {
      const pt = clamp(s, d.pt);
      if (s.draft.length >= 3 && near(s, pt, s.draft[0], 9)) { closeDraft(s); return; }
      if (s.draft.length && near(s, pt, s.draft[s.draft.length - 1], 2)) return;
      s.draft.push(pt);
      renderDraft(s);
    } else if (s.mode === "edit" && s.sel >= 0) {
      s.sel = -1;
      renderPolys(s);
    }
  }
}

function onDbl(s, e) {
  e.preventDefault();
  if (s.mode === "draw") { closeDraft(s); return; }
  if (s.mode !== "edit" || s.sel < 0) return;
  const pt = toImage(s, e);
  const pts = s.polys[s.sel].points;
  let best = -1, bestD = Infinity;
  for (let j = 0; j < pts.length; j++) {
    const a = pts[j], b = pts[(j + 1) % pts.length];
    const vx = b[0] - a[0], vy = b[1] - a[1];
    const t = Math.max(0, Math.min(1, ((pt[0] - a[0]) * vx + (pt[1] - a[1]) * vy) / (vx * vx + vy * vy || 1)));
    const dd = Math.hypot(a[0] + t * vx - pt[0], a[1] + t * vy - pt[1]);
    if (dd < bestD) { bestD = dd; best = j; }
  }
  if (best >= 0 && bestD <= 12 * pxPerScreen(s)) {
    pts.splice(best + 1, 0, clamp(s, pt));
    updatePoly(s, s.sel);
    send(s);
  }
}

function onWheel(s, e) {
  e.preventDefault();
  zoomBy(s, e.deltaY > 0 ? 1.2 : 1 / 1.2, toImage(s, e));
}

function onKey(s, e) {
  if (s.mode === "click" || s.mode === "box") {
    if (e.key === "Enter" && s.preview && s.preview.points && (s.clicks.length || s.box)) {
      sendPrompt(s, true); e.preventDefault(); e.stopPropagation(); return;
    }
    if (e.key === "Escape" && (s.clicks.length || s.box)) { clearPrompt(s, true); e.stopPropagation(); return; }
    if (e.key === "Backspace" && (s.clicks.length || s.box)) {
      if (s.clicks.length) s.clicks.pop(); else s.box = null;
      sendPrompt(s, false); e.preventDefault(); e.stopPropagation(); return;
    }
  }
  if (e.key === "Escape" && s.draft.length) { s.draft = []; s.hover = null; renderDraft(s); e.stopPropagation(); }
  else if (e.key === "Backspace" && s.draft.length) { s.draft.pop(); renderDraft(s); e.preventDefault(); e.stopPropagation(); }
  else if ((e.key === "Delete" || e.key === "Backspace") && s.sel >= 0 && s.mode !== "view") {
    deleteSelected(s); e.preventDefault(); e.stopPropagation();
  }
}

function update(s, data) {
  s.classes = data.classes || {};
  s.drawClass = data.draw_class_id;
  s.svg.style.height = `${data.height_px || 560}px`;
  if (s.url !== data.image_url) { s.url = data.image_url; s.img.setAttribute("href", data.image_url); }
  const fresh = s.rev !== data.rev || s.item !== data.item;
  if (s.W !== data.width || s.H !== data.height || s.item !== data.item) {
    s.W = data.width; s.H = data.height;
    s.img.setAttribute("width", s.W); s.img.setAttribute("height", s.H);
    s.view = null;
  }
  if (fresh) {
    s.rev = data.rev; s.item = data.item;
    s.polys = (data.polygons || []).map((p) => ({ class_id: p.class_id, points: p.points.map((q) => [...q]) }));
    if (s.sel >= s.polys.length) s.sel = -1;
    s.draft = [];
    s.clicks = [];
    s.box = null;
  }
  s.proposed = data.proposed || [];
  s.sam = !!data.sam;
  s.clickBtn.style.display = s.boxBtn.style.display = s.addBtn.style.display = s.sam && data.mode !== "view" ? "" : "none";
  s.cutBtn.style.display = s.undoBtn.style.display = s.clickBtn.style.display;
  if (!s.sam && (s.mode === "click" || s.mode === "box")) setMode(s, "draw");
  s.preview = data.preview || null;
  if (s.preview && s.sentAt[s.preview.seq] !== undefined && s.preview.rev === s.rev) {
    const ms = performance.now() - s.sentAt[s.preview.seq];
    delete s.sentAt[s.preview.seq];
    window.__annotaSegment = window.__annotaSegment || [];
    window.__annotaSegment.push({ seq: s.preview.seq, ms, server_ms: s.preview.ms });
  }
  if (!s.view) fit(s);
  if (s.modeFromData !== data.mode) { s.modeFromData = data.mode; setMode(s, data.mode === "view" ? "view" : s.mode === "view" ? "draw" : s.mode); }
  s.bar.classList.toggle("view", data.mode === "view");
  if (data.start_mode && s.startMode !== data.start_mode && data.mode !== "view") {
    s.startMode = data.start_mode;
    setMode(s, data.start_mode === "click" && !s.sam ? "draw" : data.start_mode);
  }
  renderPolys(s);
  renderDraft(s);
  renderPrompt(s);
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  let s = states.get(parentElement);
  if (s && s.pendingDestroy) { clearTimeout(s.pendingDestroy); s.pendingDestroy = null; }
  if (!s) { s = create(parentElement); states.set(parentElement, s); }
  s.setStateValue = setStateValue;
  update(s, data || {});
  return () => {
    s.pendingDestroy = setTimeout(() => { s.wrap.remove(); states.delete(parentElement); }, 0);
  };
}
