// "Select all on this page" for the Enterspeed jobs list.
document.addEventListener('change', (event) => {
  const toggle = event.target.closest('[data-enterspeed-select-all]');
  if (!toggle) return;
  document
    .querySelectorAll('input[type="checkbox"][name="id"][form="enterspeed-bulk"]')
    .forEach((checkbox) => {
      checkbox.checked = toggle.checked;
    });
});
