// The box canvas's helper (no visible element): reports the width its column offers, so Python sizes the
// canvas to fit it at zoom 1, and makes Delete / Backspace delete the selected box (the canvas's toolbar
// has a "Delete selected" button but no key for it).
const states = new WeakMap();
const STEP = 4; // px: smaller width changes are not worth a rerun

function editable(el) {
  if (!el || !el.tagName) return false;
  const tag = el.tagName.toLowerCase();
  return tag === "input" || tag === "textarea" || tag === "select" || el.isContentEditable;
}

function deleteSelectedBox() {
  // The canvas draws inside its own shadow root: find its toolbar's delete button there. Only a canvas
  // with a box selected has it enabled; a canvas a rerun is replacing (stale, still in the page) or one
  // without a selection is passed over, so the key never lands on a canvas other than the one in use.
  for (const el of document.querySelectorAll("[data-testid=stMain] *")) {
    const button = el.shadowRoot && el.shadowRoot.querySelector('button[aria-label="Delete selected"]');
    if (!button || button.disabled || el.closest('[data-stale="true"]')) continue;
    button.click();
    return true;
  }
  return false;
}

function onKey(e) {
  if (e.key !== "Delete" && e.key !== "Backspace") return;
  if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
  if (editable(e.composedPath()[0])) return; // typing in a box (or a canvas label being edited)
  if (!document.querySelector("[class*=st-key-label_canvas_fit]")) return; // no box canvas on screen
  if (deleteSelectedBox()) e.preventDefault();
}

if (!window.__annotaCanvasKeys) {
  window.__annotaCanvasKeys = true;
  document.addEventListener("keydown", onKey);
}

export default function (component) {
  const { parentElement, setStateValue } = component;
  let s = states.get(parentElement);
  if (!s) {
    s = { sent: null, setStateValue };
    const host = parentElement.host || parentElement;
    const measure = () => {
      const w = Math.floor(host.getBoundingClientRect().width);
      if (w > 0 && (s.sent === null || Math.abs(w - s.sent) >= STEP)) {
        s.sent = w;
        s.setStateValue("width", w);
      }
    };
    s.observer = new ResizeObserver(measure);
    s.observer.observe(host);
    states.set(parentElement, s);
    measure();
  }
  s.setStateValue = setStateValue;
  return () => {
    s.observer.disconnect();
    states.delete(parentElement);
  };
}
