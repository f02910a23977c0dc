// Starts Swagger UI on a service's docs page (servicekit/docs.py). The page
// runs no inline script - its Content-Security-Policy allows none - so the
// settings that vary per service come from data- attributes on this script's
// own element instead.
(function () {
  "use strict";

  var settings = document.currentScript.dataset;

  window.ui = SwaggerUIBundle({
    url: settings.openapiUrl,
    dom_id: "#swagger-ui",
    // Only the API's operations: no top bar, whose box would load any URL's
    // document into this origin's page.
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    // Keep the token "Authorize" got across reloads (in this origin's
    // localStorage): the OpenAPI document's password flow posts to /auth/token.
    persistAuthorization: true,
    oauth2RedirectUrl: new URL(settings.oauth2RedirectUrl, window.location.href).href,
    // Never send the document to swagger.io's validator (a third party).
    validatorUrl: null,
  });
})();
