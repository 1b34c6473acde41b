// Shows why the last sign-in failed.
if (new URLSearchParams(location.search).has('failed')) document.querySelector('[data-testid="login-error"]').hidden = false;
