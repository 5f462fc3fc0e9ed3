import { memo } from "react"
import { motion } from "framer-motion"
import { ControlType, RenderTarget } from "framer"

/**
 * A hero section that fades in.
 */
function Hero(props: { title: string; size: number }) {
  const { title, size } = props
  if (RenderTarget.current() === RenderTarget.thumbnail) return null
  return (
    <motion.section initial={{ opacity: 0 }} animate={{ opacity: 1 }} style={{ position: "absolute", inset: 0 }}>
      <h1 style={{ fontSize: size }}>{title}</h1>
    </motion.section>
  )
}

export default memo(Hero)

addPropertyControls(Hero, {
  title: { type: ControlType.String, defaultValue: "Ship faster" },
  size: { type: ControlType.Number, defaultValue: 64, min: 16, max: 160, step: 4 },
})
