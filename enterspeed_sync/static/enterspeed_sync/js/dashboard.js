// Refresh the Enterspeed dashboard's job counts: every 1.5 s while work is under way,
// every 5 s otherwise (a fault or a stopped cluster shows within seconds). The server renders the fragment; this only swaps it in.
(() => {
  const FAST = 1500;
  const SLOW = 5000;
  const find = () => document.getElementById('enterspeed-status');
  const schedule = () => {
    const status = find();
    if (!status) return;
    window.setTimeout(tick, status.dataset.refreshing === 'true' ? FAST : SLOW);
  };
  const tick = async () => {
    const status = find();
    if (!status) return;
    try {
      const response = await fetch(status.dataset.url, {
        headers: { 'X-Requested-With': 'XMLHttpRequest' },
        credentials: 'same-origin',
      });
      if (response.ok) {
        const holder = document.createElement('div');
        holder.innerHTML = await response.text();
        const fresh = holder.querySelector('#enterspeed-status');
        if (fresh) status.replaceWith(fresh);
      }
    } catch (error) {
      // Offline for a moment: try again on the next tick.
    }
    schedule();
  };
  schedule();
})();
