// Re-checks the seats the buyer had chosen when the form comes back with an error.
(function () {
  var data = document.getElementById("chosen-seats");
  var chosen = data ? JSON.parse(data.textContent) : [];
  chosen.forEach(function (label) {
    var box = document.querySelector('input[name="seat"][value="' + CSS.escape(label) + '"]');
    if (box && !box.disabled) box.checked = true;
  });
})();
