// A small stand-in for Framer's `framer` module, so a Framer code component runs in the
// preview. Property controls are recorded (the preview's own controls come from Python);
// RenderTarget says "preview", as Framer's own preview would.

export const ControlType = Object.freeze({
  String: "string",
  Number: "number",
  Boolean: "boolean",
  Color: "color",
  Enum: "enum",
  Image: "image",
  File: "file",
  Array: "array",
  Object: "object",
  ComponentInstance: "componentinstance",
  EventHandler: "eventhandler",
  Transition: "transition",
  Font: "font",
  Link: "link",
  Date: "date",
  ResponsiveImage: "responsiveimage",
  Padding: "padding",
  BorderRadius: "borderradius",
  Border: "border",
  BoxShadow: "boxshadow",
});

export const RenderTarget = Object.freeze({
  canvas: "CANVAS",
  export: "EXPORT",
  thumbnail: "THUMBNAIL",
  preview: "PREVIEW",
  current: () => "PREVIEW",
  hasRestrictions: () => false,
});

export function addPropertyControls(component, controls) {
  if (component) component.propertyControls = { ...(component.propertyControls || {}), ...controls };
}

export function withCSS(component) {
  return component;
}
