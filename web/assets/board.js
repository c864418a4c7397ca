// Board selectors: show the new domain, hour or machine as soon as a select changes.
// Optional: without JavaScript the form's "Show" button does the same.
document.documentElement.classList.add('js');
document.addEventListener('change', (event) => {
  const select = event.target;
  if (select instanceof HTMLSelectElement && select.form && select.form.classList.contains('selectors')) {
    select.form.submit();
  }
});
