// Board selectors: show the new domain, hour or machine as soon as a select is changed with
// the mouse (or touch). With the keyboard, the arrow keys only browse the options, since a
// reload per arrow press would throw focus back to the top of the page; Enter or the form's
// "Show" button shows the choice. Optional: without JavaScript the "Show" button does it all.
const keyed = new WeakSet();
const selectorOf = (target) =>
  target instanceof HTMLSelectElement && target.form && target.form.classList.contains('selectors')
    ? target
    : null;
document.addEventListener('pointerdown', (event) => {
  const select = selectorOf(event.target);
  if (select) keyed.delete(select);
});
document.addEventListener('keydown', (event) => {
  const select = selectorOf(event.target);
  if (!select) return;
  if (event.key === 'Enter') {
    // Chromium would open the option list on Enter instead.
    event.preventDefault();
    select.form.submit();
  } else {
    keyed.add(select);
  }
});
document.addEventListener('change', (event) => {
  const select = selectorOf(event.target);
  if (select && !keyed.has(select)) select.form.submit();
});
// A report table's box is marked .scrolled once scrolled sideways: on a phone its first column
// stays put and the stylesheet then draws a shadow at that column's edge, where the box's own
// left shadow is covered. Scroll events do not bubble, so they are caught on the way down.
const markScrolled = (wrap) => wrap.classList.toggle('scrolled', wrap.scrollLeft > 0);
document.addEventListener('scroll', (event) => {
  if (event.target instanceof Element && event.target.classList.contains('table-wrap')) {
    markScrolled(event.target);
  }
}, { capture: true, passive: true });
document.querySelectorAll('.table-wrap').forEach(markScrolled);
