// Re-checks the seats the buyer had chosen when the form comes back with an error.
(function () {
  var chosen = window.CHOSEN_SEATS || [];
  chosen.forEach(function (label) {
    var box = document.querySelector('input[name="seat"][value="' + label + '"]');
    if (box && !box.disabled) box.checked = true;
  });
})();
