// The door: where the browser has BarcodeDetector (Chrome on Android), a button scans QR codes
// with the camera and submits the code; otherwise the code is typed (or a handheld scanner
// types it). The answer is the server's page, in large type.
(function () {
  var answer = document.getElementById("door-answer");
  if (answer) answer.focus();
  var scan = document.getElementById("door-scan");
  if (!scan || !("BarcodeDetector" in window) || !navigator.mediaDevices) return;
  var form = document.getElementById("door-form"), video = document.getElementById("door-video");
  scan.hidden = false;
  scan.addEventListener("click", function () {
    var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (stream) {
      video.srcObject = stream;
      video.hidden = false;
      return video.play().then(function () {
        function look() {
          detector.detect(video).then(function (codes) {
            if (!codes.length) { window.requestAnimationFrame(look); return; }
            stream.getTracks().forEach(function (t) { t.stop(); });
            form.elements.code.value = codes[0].rawValue;
            form.submit();
          }, function () { window.requestAnimationFrame(look); });
        }
        look();
      });
    }).catch(function () { scan.hidden = true; form.elements.code.focus(); });
  });
})();
