// Progressive enhancement only: everything works without it (an image's
// link opens it at full size). With it, activating an image link shows the
// image at full size over the page; activating it again or Escape closes.
document.addEventListener("click", function (e) {
  var a = e.target.closest ? e.target.closest("a.zoom") : null;
  if (!a) {
    return;
  }
  var img = a.querySelector("img");
  if (!img) {
    return;
  }
  e.preventDefault();
  var on = img.classList.toggle("zoomed");
  a.setAttribute("aria-expanded", on ? "true" : "false");
});
document.addEventListener("keydown", function (e) {
  if (e.key === "Escape") {
    document.querySelectorAll("img.zoomed").forEach(function (i) {
      i.classList.remove("zoomed");
      if (i.parentElement) {
        i.parentElement.setAttribute("aria-expanded", "false");
      }
    });
  }
});
